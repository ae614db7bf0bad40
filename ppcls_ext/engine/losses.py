"""Losses from PaddleClas's ``Loss`` section: ``- CELoss: {weight: 1.0, epsilon: 0.1}``.

Mirrors PaddleClas's ``CombinedLoss``: every listed loss is computed and weighted, the
result dict holds each loss by name plus their sum under ``loss``. ``CELoss`` takes hard
labels ([N, 1] int64) or soft targets ([N, C] float, from Mixup/CutMix) as PaddleClas's does,
applying label smoothing ``epsilon`` to either.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..factory import build_op, split_entry
from ..validation import ConfigError


class CELoss(nn.Layer):
    """Cross entropy with optional label smoothing; hard or soft targets."""

    def __init__(self, epsilon=None):
        super().__init__()
        if epsilon is not None and not 0.0 <= epsilon < 1.0:
            raise ConfigError(f"CELoss.epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = epsilon or 0.0

    def forward(self, logits, label):
        class_num = logits.shape[-1]
        if label.ndim == 2 and label.shape[-1] == class_num and label.dtype != paddle.int64:
            target = label.astype(logits.dtype)
        else:
            target = F.one_hot(label.reshape([-1]).astype("int64"), class_num).astype(logits.dtype)
        if self.epsilon > 0:
            target = target * (1.0 - self.epsilon) + self.epsilon / class_num
        loss = -(target * F.log_softmax(logits, axis=-1)).sum(axis=-1)
        return {"CELoss": loss.mean()}


class SoftTargetCELoss(CELoss):
    """Name PaddleClas configs use for mixup/cutmix targets; same maths as ``CELoss``."""

    def forward(self, logits, label):
        return {"SoftTargetCELoss": super().forward(logits, label)["CELoss"]}


LOSSES = {"CELoss": CELoss, "SoftTargetCELoss": SoftTargetCELoss}


class CombinedLoss(nn.Layer):
    def __init__(self, loss_list, where="Loss.Train"):
        super().__init__()
        if not isinstance(loss_list, list) or not loss_list:
            raise ConfigError(f"{where} must be a non-empty list like '- CELoss: {{weight: 1.0}}'")
        self.losses, self.weights = [], []
        for entry in loss_list:
            name, kwargs = split_entry(entry, where, "loss")
            kwargs = dict(kwargs or {})
            if "weight" not in kwargs:
                raise ConfigError(f"{where}.{name}: 'weight' is required (PaddleClas schema)")
            self.weights.append(float(kwargs.pop("weight")))
            self.losses.append(build_op(name, kwargs, LOSSES, where))

    def forward(self, logits, label):
        out, total = {}, 0.0
        for loss, weight in zip(self.losses, self.weights):
            for name, value in loss(logits, label).items():
                out[name] = value * weight
                total = total + out[name]
        out["loss"] = total
        return out


def build_loss(loss_config, mode="Train"):
    if not loss_config or mode not in loss_config:
        return None
    return CombinedLoss(loss_config[mode], f"Loss.{mode}")
