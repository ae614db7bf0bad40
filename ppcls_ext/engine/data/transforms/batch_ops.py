"""Batch ops: Mixup, CutMix and OpSampler, producing soft targets.

Keys and semantics follow PaddleClas's batch operators (``class_num``, ``alpha``, ``prob``;
``OpSampler`` picks at most one op per batch by the ops' ``prob``) and timm's ``Mixup``: the
batch is mixed with a permutation of itself, lambda ~ Beta(alpha, alpha), CutMix's lambda is
corrected to the pasted box's true area. Every batch, mixed or not, leaves with float32
one-hot-based targets of shape [N, class_num], so the loss sees one label format.
"""
import random

import numpy as np

from ....factory import build_op
from ....validation import ConfigError, DataError


def _one_hot(labels, class_num):
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    bad = labels[(labels < 0) | (labels >= class_num)]
    if bad.size:
        raise DataError(f"label {int(bad[0])} is outside [0, {class_num}) of the batch op's "
                         "class_num; set class_num to the dataset's number of classes")
    out = np.zeros((labels.size, class_num), dtype=np.float32)
    out[np.arange(labels.size), labels] = 1.0
    return out


def _check(class_num, alpha, prob, name):
    if class_num is None or int(class_num) <= 0:
        raise ConfigError(f"{name} needs the number of classes to build soft targets: set "
                          f"Arch.class_num (the engine passes it on as DataLoader.class_num) "
                          f"or class_num in the op, e.g. '- {name}: {{class_num: 1000, "
                          f"alpha: 0.8}}'; got class_num={class_num!r}")
    if alpha <= 0:
        raise ConfigError(f"{name}.alpha must be > 0, got {alpha}")
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"{name}.prob must be in [0, 1], got {prob}")


class MixupOperator:
    """Blend images and targets: x = lam * x + (1 - lam) * x[perm].

    PaddleClas's keys ``class_num`` and ``alpha`` (default 1.0); ``prob`` (default 1.0, an
    addition here) is the chance a batch is mixed when the op is used outside ``OpSampler``.
    """

    default_alpha = 1.0

    def __init__(self, class_num=None, alpha=None, prob=1.0):
        alpha = self.default_alpha if alpha is None else float(alpha)
        _check(class_num, alpha, float(prob), type(self).__name__)
        self.class_num, self.alpha, self.prob = int(class_num), alpha, float(prob)

    def mix(self, imgs, targets):
        lam = float(np.random.beta(self.alpha, self.alpha))
        perm = np.random.permutation(len(imgs))
        imgs = lam * imgs + (1.0 - lam) * imgs[perm]
        return imgs.astype(np.float32), lam * targets + (1.0 - lam) * targets[perm]

    def __call__(self, imgs, labels):
        targets = _one_hot(labels, self.class_num)
        if random.random() >= self.prob:
            return imgs, targets
        return self.mix(imgs, targets)


class CutmixOperator(MixupOperator):
    """Paste a box of x[perm] into x; targets weighted by the box's actual area.

    Keys as ``MixupOperator``; ``alpha`` defaults to 0.2 as in PaddleClas.
    """

    default_alpha = 0.2

    def mix(self, imgs, targets):
        lam = float(np.random.beta(self.alpha, self.alpha))
        perm = np.random.permutation(len(imgs))
        h, w = imgs.shape[2:]
        cut = np.sqrt(1.0 - lam)
        ch, cw = int(h * cut), int(w * cut)
        cy, cx = np.random.randint(h), np.random.randint(w)
        y0, y1 = np.clip([cy - ch // 2, cy + ch // 2], 0, h)
        x0, x1 = np.clip([cx - cw // 2, cx + cw // 2], 0, w)
        imgs = imgs.copy()
        imgs[:, :, y0:y1, x0:x1] = imgs[perm][:, :, y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
        return imgs, lam * targets + (1.0 - lam) * targets[perm]


def resolve_class_num(own, given, where):
    """The op's own ``class_num`` or the one handed down (``Arch.class_num``); both set and
    different would make targets that do not fit the model's output, so that is an error."""
    if own is not None and given is not None and int(own) != int(given):
        raise ConfigError(f"{where}.class_num = {own} differs from Arch.class_num = {given}; "
                          "remove the op's class_num or make them equal")
    return own if own is not None else given


BATCH_OPS = {"MixupOperator": MixupOperator, "CutmixOperator": CutmixOperator}


class OpSampler:
    """Apply at most one of several batch ops, op i chosen with its ``prob``.

    ``OpSampler: {MixupOperator: {alpha: 0.8, prob: 0.5}, CutmixOperator: {alpha: 1.0,
    prob: 0.5}}`` gives the 50/50 Mixup-or-CutMix of the recipe; probabilities summing to
    less than 1 leave the remaining batches unmixed (still one-hot targets, where PaddleClas
    would hand the loss hard labels). Every op needs its ``prob`` (PaddleClas silently uses 0,
    i.e. never applies an op without one).
    """

    def __init__(self, class_num=None, **ops):
        if not ops:
            raise ConfigError("OpSampler needs at least one of: " + ", ".join(BATCH_OPS))
        self.ops, self.probs = [], []
        for name, kwargs in ops.items():
            if not isinstance(kwargs, dict):
                raise ConfigError(f"OpSampler.{name} must be a mapping of the op's keys, e.g. "
                                  f"'{name}: {{alpha: 0.8, prob: 0.5}}', got {kwargs!r}")
            kwargs = dict(kwargs)
            kwargs["class_num"] = resolve_class_num(kwargs.get("class_num"), class_num,
                                                    f"OpSampler.{name}")
            if "prob" not in kwargs:
                raise ConfigError(f"OpSampler.{name} needs 'prob' (the share of batches it "
                                  f"mixes), e.g. '{name}: {{alpha: 0.8, prob: 0.5}}'")
            self.probs.append(float(kwargs.pop("prob")))
            self.ops.append(build_op(name, kwargs, BATCH_OPS, "OpSampler"))
        if sum(self.probs) > 1.0 + 1e-6 or min(self.probs) < 0:
            raise ConfigError(f"OpSampler probabilities {self.probs} must be >= 0 and sum to "
                              "at most 1")
        self.class_num = self.ops[0].class_num

    def __call__(self, imgs, labels):
        targets = _one_hot(labels, self.class_num)
        r, acc = random.random(), 0.0
        for op, p in zip(self.ops, self.probs):
            acc += p
            if r < acc:
                return op.mix(imgs, targets)
        return imgs, targets


BATCH_OPS_WITH_SAMPLER = dict(BATCH_OPS, OpSampler=OpSampler)
