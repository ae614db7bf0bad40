"""Learning-rate schedules from PaddleClas's ``Optimizer.lr`` section, stepped per iteration.

``Cosine`` (``learning_rate``, ``eta_min``, ``warmup_epoch``, ``warmup_start_lr``) and
``Piecewise`` (``decay_epochs``, ``values``, warm-up likewise) as PaddleClas defines them,
built from Paddle's own schedulers: ``LinearWarmup`` around ``CosineAnnealingDecay`` or
``PiecewiseDecay``, with epochs converted to iterations.
"""
from paddle.optimizer import lr as plr

from ..factory import build_op


def _warmup(schedule, base_lr, warmup_epoch, warmup_start_lr, step_each_epoch):
    steps = int(round(warmup_epoch * step_each_epoch))
    if steps <= 0:
        return schedule
    return plr.LinearWarmup(schedule, steps, float(warmup_start_lr), float(base_lr))


class Cosine:
    def __init__(self, learning_rate, epochs, step_each_epoch, eta_min=0.0, warmup_epoch=0,
                 warmup_start_lr=0.0, by_epoch=False, last_epoch=-1):
        if by_epoch:
            raise ValueError("Cosine.by_epoch=True is not supported; schedules step per "
                             "iteration as in the E-ConvNeXt recipe")
        if warmup_epoch >= epochs:
            raise ValueError(f"Cosine.warmup_epoch ({warmup_epoch}) must be smaller than "
                             f"Global.epochs ({epochs})")
        decay_steps = max(1, int(round((epochs - warmup_epoch) * step_each_epoch)))
        cosine = plr.CosineAnnealingDecay(float(learning_rate), decay_steps, float(eta_min))
        self.scheduler = _warmup(cosine, learning_rate, warmup_epoch, warmup_start_lr,
                                 step_each_epoch)


class Piecewise:
    def __init__(self, decay_epochs, values, epochs, step_each_epoch, warmup_epoch=0,
                 warmup_start_lr=0.0, by_epoch=False, last_epoch=-1):
        if len(values) != len(decay_epochs) + 1:
            raise ValueError(f"Piecewise needs len(values) == len(decay_epochs) + 1, got "
                             f"{len(values)} values for {len(decay_epochs)} boundaries")
        boundaries = [int(round(e * step_each_epoch)) for e in decay_epochs]
        piecewise = plr.PiecewiseDecay(boundaries, [float(v) for v in values])
        self.scheduler = _warmup(piecewise, values[0], warmup_epoch, warmup_start_lr,
                                 step_each_epoch)


class ConstLR:
    def __init__(self, learning_rate, epochs, step_each_epoch, warmup_epoch=0,
                 warmup_start_lr=0.0, last_epoch=-1):
        const = plr.LambdaDecay(float(learning_rate), lambda _: 1.0)
        self.scheduler = _warmup(const, learning_rate, warmup_epoch, warmup_start_lr,
                                 step_each_epoch)


SCHEDULES = {"Cosine": Cosine, "Piecewise": Piecewise, "ConstLR": ConstLR}


def build_lr(lr_config, epochs, step_each_epoch):
    cfg = dict(lr_config or {})
    name = cfg.pop("name", None)
    cfg.update(epochs=epochs, step_each_epoch=step_each_epoch)
    return build_op(name, cfg, SCHEDULES, "Optimizer.lr").scheduler
