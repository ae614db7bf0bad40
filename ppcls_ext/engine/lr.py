"""Learning-rate schedules from PaddleClas's ``Optimizer.lr`` section, stepped per iteration.

``Cosine`` (``learning_rate``, ``eta_min``, ``warmup_epoch``, ``warmup_start_lr``) and
``Piecewise`` (``decay_epochs``, ``values``, warm-up likewise) as PaddleClas defines them,
built from Paddle's own schedulers: ``LinearWarmup`` around ``CosineAnnealingDecay`` or
``PiecewiseDecay``, with epochs converted to iterations.
"""
from paddle.optimizer import lr as plr

from .._ppcls import logger
from ..factory import build_op
from ..validation import ConfigError


def _clamp_warmup(warmup_epoch, epochs):
    """PaddleClas's LRBase: a warm-up not shorter than the run becomes the whole run, with a
    warning (so that ``-o Global.epochs=1`` smoke runs work)."""
    if warmup_epoch and warmup_epoch >= epochs:
        logger.warning(f"Optimizer.lr.warmup_epoch ({warmup_epoch}) is not shorter than "
                       f"Global.epochs ({epochs}): warming up over all {epochs} epoch(s).")
        return epochs
    return warmup_epoch


def _warmup(schedule, base_lr, warmup_epoch, warmup_start_lr, step_each_epoch):
    steps = int(round(warmup_epoch * step_each_epoch))
    if steps <= 0:
        return schedule
    return plr.LinearWarmup(schedule, steps, float(warmup_start_lr), float(base_lr))


class Cosine:
    def __init__(self, learning_rate, epochs, step_each_epoch, eta_min=0.0, warmup_epoch=0,
                 warmup_start_lr=0.0, by_epoch=False):
        if by_epoch:
            raise ConfigError("Cosine.by_epoch=True is not supported; schedules step per "
                              "iteration as in the E-ConvNeXt recipe")
        warmup_epoch = _clamp_warmup(warmup_epoch, epochs)
        decay_steps = int(round((epochs - warmup_epoch) * step_each_epoch))
        # no step left after the warm-up: a constant, as PaddleClas's Cosine does
        cosine = plr.CosineAnnealingDecay(float(learning_rate), decay_steps, float(eta_min)) \
            if decay_steps > 0 else plr.LambdaDecay(float(learning_rate), lambda _: 1.0)
        self.scheduler = _warmup(cosine, learning_rate, warmup_epoch, warmup_start_lr,
                                 step_each_epoch)


class Piecewise:
    def __init__(self, decay_epochs, values, epochs, step_each_epoch, warmup_epoch=0,
                 warmup_start_lr=0.0, by_epoch=False):
        if len(values) != len(decay_epochs) + 1:
            raise ConfigError(f"Piecewise needs len(values) == len(decay_epochs) + 1, got "
                              f"{len(values)} values for {len(decay_epochs)} boundaries")
        warmup_epoch = _clamp_warmup(warmup_epoch, epochs)
        boundaries = [int(round(e * step_each_epoch)) for e in decay_epochs]
        piecewise = plr.PiecewiseDecay(boundaries, [float(v) for v in values])
        self.scheduler = _warmup(piecewise, values[0], warmup_epoch, warmup_start_lr,
                                 step_each_epoch)


class ConstLR:
    def __init__(self, learning_rate, epochs, step_each_epoch, warmup_epoch=0,
                 warmup_start_lr=0.0):
        warmup_epoch = _clamp_warmup(warmup_epoch, epochs)
        const = plr.LambdaDecay(float(learning_rate), lambda _: 1.0)
        self.scheduler = _warmup(const, learning_rate, warmup_epoch, warmup_start_lr,
                                 step_each_epoch)


SCHEDULES = {"Cosine": Cosine, "Piecewise": Piecewise, "ConstLR": ConstLR}


def build_lr(lr_config, epochs, step_each_epoch):
    cfg = dict(lr_config or {})
    name = cfg.pop("name", None)
    cfg.update(epochs=epochs, step_each_epoch=step_each_epoch)
    return build_op(name, cfg, SCHEDULES, "Optimizer.lr").scheduler
