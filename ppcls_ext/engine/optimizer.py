"""Optimizers from PaddleClas's ``Optimizer`` section: ``AdamW``, ``Momentum``, ``SGD``,
``Adam`` and ``RMSProp`` (``ppcls/optimizer/optimizer.py``), each Paddle's optimizer.

Keys as PaddleClas's: AdamW ``beta1``, ``beta2``, ``epsilon``, ``weight_decay``,
``no_weight_decay_name`` (space-separated substrings of structured parameter names),
``one_dim_param_no_weight_decay``; Momentum ``momentum``, ``use_nesterov``; SGD; Adam
``beta1``, ``beta2``, ``epsilon``, ``lazy_mode``; RMSProp ``momentum``, ``rho``, ``epsilon``; all
but AdamW ``regularizer: {name: L2, coeff}``; both ``clip_norm`` (global-norm gradient clipping) and
``lr``. Exclusion from weight decay works on Paddle's parameter ``.name``, which is what
``apply_decay_param_fun`` receives.
"""
import paddle

from ..factory import build_op
from .lr import build_lr
from ..validation import ConfigError


def _no_decay_names(model, no_weight_decay_name, one_dim_param_no_weight_decay):
    patterns = (no_weight_decay_name or "").split()
    names = set()
    for structured, param in model.named_parameters():
        if any(p in structured for p in patterns) or \
                (one_dim_param_no_weight_decay and len(param.shape) == 1):
            names.add(param.name)
    return names


def _grad_clip(clip_norm):
    return paddle.nn.ClipGradByGlobalNorm(float(clip_norm)) if clip_norm else None


class AdamW:
    def __init__(self, model, scheduler, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 weight_decay=0.01, no_weight_decay_name=None,
                 one_dim_param_no_weight_decay=False, clip_norm=None, multi_precision=False):
        skip = _no_decay_names(model, no_weight_decay_name, one_dim_param_no_weight_decay)
        self.optimizer = paddle.optimizer.AdamW(
            learning_rate=scheduler, beta1=beta1, beta2=beta2, epsilon=float(epsilon),
            parameters=model.parameters(), weight_decay=float(weight_decay),
            apply_decay_param_fun=lambda name: name not in skip,
            grad_clip=_grad_clip(clip_norm), multi_precision=multi_precision)


def _l2_groups(model, regularizer, no_weight_decay_name, one_dim_param_no_weight_decay,
               optimizer):
    """PaddleClas's ``regularizer: {name: L2, coeff}`` as (weight_decay, parameters): the
    parameters matched by ``no_weight_decay_name`` / ``one_dim_param_no_weight_decay`` in a
    group of their own without decay."""
    decay = None
    if regularizer:
        if regularizer.get("name", "L2") != "L2":
            raise ConfigError(f"{optimizer}.regularizer.name must be 'L2', got "
                              f"{regularizer.get('name')!r}")
        decay = paddle.regularizer.L2Decay(float(regularizer.get("coeff", 0.0)))
    skip = _no_decay_names(model, no_weight_decay_name, one_dim_param_no_weight_decay)
    params = [{"params": [p for p in model.parameters() if p.name not in skip]},
              {"params": [p for p in model.parameters() if p.name in skip],
               "weight_decay": 0.0}] if skip else model.parameters()
    return decay, params


class Momentum:
    def __init__(self, model, scheduler, momentum=0.9, regularizer=None, use_nesterov=False,
                 clip_norm=None, multi_precision=False, no_weight_decay_name=None,
                 one_dim_param_no_weight_decay=False):
        decay, params = _l2_groups(model, regularizer, no_weight_decay_name,
                                   one_dim_param_no_weight_decay, "Momentum")
        self.optimizer = paddle.optimizer.Momentum(
            learning_rate=scheduler, momentum=float(momentum), parameters=params,
            use_nesterov=use_nesterov, weight_decay=decay, grad_clip=_grad_clip(clip_norm),
            multi_precision=multi_precision)


class SGD:
    """PaddleClas's ``SGD``: plain gradient descent, L2 by ``regularizer``."""

    def __init__(self, model, scheduler, regularizer=None, clip_norm=None,
                 multi_precision=False, no_weight_decay_name=None,
                 one_dim_param_no_weight_decay=False):
        decay, params = _l2_groups(model, regularizer, no_weight_decay_name,
                                   one_dim_param_no_weight_decay, "SGD")
        self.optimizer = paddle.optimizer.SGD(
            learning_rate=scheduler, parameters=params, weight_decay=decay,
            grad_clip=_grad_clip(clip_norm), multi_precision=multi_precision)


class Adam:
    """PaddleClas's ``Adam`` (L2 by ``regularizer``; decoupled decay is ``AdamW``)."""

    def __init__(self, model, scheduler, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 regularizer=None, lazy_mode=False, clip_norm=None, multi_precision=False,
                 no_weight_decay_name=None, one_dim_param_no_weight_decay=False):
        decay, params = _l2_groups(model, regularizer, no_weight_decay_name,
                                   one_dim_param_no_weight_decay, "Adam")
        self.optimizer = paddle.optimizer.Adam(
            learning_rate=scheduler, beta1=beta1, beta2=beta2, epsilon=float(epsilon),
            parameters=params, weight_decay=decay, lazy_mode=lazy_mode,
            grad_clip=_grad_clip(clip_norm), multi_precision=multi_precision)


class RMSProp:
    """PaddleClas's ``RMSProp`` (``momentum``, ``rho``, ``epsilon``; L2 by ``regularizer``)."""

    def __init__(self, model, scheduler, momentum=0.0, rho=0.95, epsilon=1e-6,
                 regularizer=None, clip_norm=None, multi_precision=False,
                 no_weight_decay_name=None, one_dim_param_no_weight_decay=False):
        decay, params = _l2_groups(model, regularizer, no_weight_decay_name,
                                   one_dim_param_no_weight_decay, "RMSProp")
        # Paddle's RMSProp keeps no fp32 master weights: multi_precision (AMP O2) is taken and
        # not passed, as PaddleClas's RMSProp does
        self.optimizer = paddle.optimizer.RMSProp(
            learning_rate=scheduler, rho=float(rho), epsilon=float(epsilon),
            momentum=float(momentum), parameters=params, weight_decay=decay,
            grad_clip=_grad_clip(clip_norm))


OPTIMIZERS = {"AdamW": AdamW, "Momentum": Momentum, "SGD": SGD, "Adam": Adam,
              "RMSProp": RMSProp}


def build_optimizer(opt_config, epochs, step_each_epoch, model):
    """Returns (paddle optimizer, lr scheduler)."""
    cfg = dict(opt_config or {})
    if "lr" not in cfg:
        raise ConfigError("Optimizer.lr is required, e.g. {name: Cosine, learning_rate: 2.5e-4}")
    scheduler = build_lr(cfg.pop("lr"), epochs, step_each_epoch)
    name = cfg.pop("name", None)
    cfg.update(model=model, scheduler=scheduler)
    return build_op(name, cfg, OPTIMIZERS, "Optimizer").optimizer, scheduler
