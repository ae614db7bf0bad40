"""Config validation shared by the engine and the optional sections (``Slim``).

``ConfigError`` and the schema of every config section live here, below both the engine
(``engine/config.py`` loads and validates a config) and ``slim`` (which reads its section):
neither imports the other to check a config. A misspelt key would otherwise be ignored
silently and a run would train with a default the user never meant.

Values: ``CLASSIFICATION_VALUES`` maps PaddleClas's numeric keys to their type and range;
``check_values`` checks a config against such a table once, after the ``-o`` overrides are
merged and before anything is built, and names the key, the ``-o`` item or file it came from,
what is valid and what was given (the detection table, ``ppcls_ext.det.values``, uses it too).
"""
from ppcls_infer.cli import InvalidValueError, MissingPathError, UserError
from ppcls_infer.values import (Ints, Number, Section, fraction, non_negative,  # noqa: F401
                                positive, positive_int)
from ppcls_infer.values import check_values as _check_values

from .factory import unknown_keys_message

# ``Slim: {quant: {name: pact}}``, PaddleClas's section for quantization-aware training
# (``ppcls/engine/slim``); pruning is not supported.
SLIM_KEYS = {"quant"}
QUANT_KEYS = {"name"}
QUANTIZERS = ("pact",)


class ConfigError(InvalidValueError):
    """A config value, ``-o`` override or command-line flag that is not valid, with the file
    and key at fault (a ValueError for Python callers)."""


class DataError(InvalidValueError):
    """A data set the config names that cannot be used: no image, a label outside
    ``class_num``, an empty calibration set."""


class UnreadableImagesError(UserError, RuntimeError):
    """Every image a loader tried in a row failed to decode (the data set or its root is
    wrong); a RuntimeError for callers, as before."""


class MissingFileError(MissingPathError):
    """A file named by a config value or a command-line argument does not exist."""


def check_keys(section, valid, where, path):
    """Raise ConfigError naming ``path`` and the closest valid key for each unknown key of
    ``section`` (a mapping; ``where`` is its dotted name, "" for the top level)."""
    unknown = set(section) - set(valid)
    if unknown:
        raise ConfigError(f"{path}: {unknown_keys_message(unknown, valid, where)}")


def _check_names(section, valid, where, path, note=""):
    """Unknown keys of one Slim (sub)section, in the section's own wording."""
    for key in section:
        if key not in valid:
            raise ConfigError(f"{path}: unknown key {where}.{key!r}. Valid keys: "
                              f"{', '.join(sorted(valid))}{note}")


def check_slim_config(slim, path="<config>"):
    """The ``Slim`` section: ``{quant: {name: pact}}``. Returns the quantizer name or None."""
    if slim is None:
        return None
    if not isinstance(slim, dict):
        raise ConfigError(f"{path}: Slim must be a mapping such as {{quant: {{name: pact}}}}")
    _check_names(slim, SLIM_KEYS, "Slim", path, " (pruning is not supported)")
    quant = slim.get("quant")
    if quant is None:
        return None
    if not isinstance(quant, dict):
        raise ConfigError(f"{path}: Slim.quant must be a mapping such as {{name: pact}}")
    _check_names(quant, QUANT_KEYS, "Slim.quant", path)
    name = str(quant.get("name", "")).lower()
    if name not in QUANTIZERS:
        raise ConfigError(f"{path}: Slim.quant.name {quant.get('name')!r} is not a known "
                          f"quantizer; valid: {', '.join(QUANTIZERS)} (post-training "
                          "quantization: tools/quant_post.py)")
    return name


# ---------------------------------------------------------------------------------- values
# Numeric config values, checked once after the -o overrides are merged and before any model
# or data is built. Bounds use JSON Schema's words (minimum, exclusiveMinimum, ...).


_MIX_OPS = ("MixupOperator", "CutmixOperator")
_BATCH_OPS = "DataLoader.*.dataset.batch_transform_ops.*"

# PaddleClas's keys, as its engine, loaders, losses, optimizers and schedulers read them
# (ppcls/engine/engine.py, train/train.py, ppcls/data, ppcls/loss, ppcls/optimizer). ``*``
# is any key or list index. Keys absent from a config keep their defaults, unchecked.
CLASSIFICATION_VALUES = {
    "Global.epochs": positive_int("training epochs; 0 would train nothing"),
    "Global.print_batch_step": positive_int("iterations between log lines"),
    "Global.save_interval": Number(int, minimum=0, meaning="epochs between epoch_N "
                                   "checkpoints; 0: only latest and best_model"),
    "Global.eval_interval": positive_int("epochs between evaluations"),
    "Global.start_eval_epoch": Number(int, minimum=0, meaning="evaluate after this epoch"),
    "Global.update_freq": positive_int("micro-batches accumulated per optimizer step"),
    "Global.class_num": Number(int, minimum=1, nullable=True, meaning="classes"),
    "Global.seed": Number(int, minimum=0, maximum=2 ** 32 - 1, nullable=True),
    "Global.image_shape": Ints((3,), "[C, H, W]"),
    "Arch.class_num": positive_int("classes"),
    "Arch.drop_path_rate": fraction("stochastic depth"),
    "Optimizer.lr": Section("{name: Cosine, learning_rate: 0.001}"),
    "Optimizer.lr.learning_rate": positive("the peak learning rate"),
    "Optimizer.lr.eta_min": non_negative("the final learning rate"),
    "Optimizer.lr.warmup_epoch": non_negative("epochs of linear warm-up"),
    "Optimizer.lr.warmup_start_lr": non_negative("learning rate at the start of warm-up"),
    "Optimizer.lr.decay_epochs.*": non_negative("Piecewise boundaries in epochs"),
    "Optimizer.lr.values.*": non_negative("Piecewise learning rates"),
    "Optimizer.weight_decay": non_negative("decoupled weight decay"),
    "Optimizer.beta1": fraction(), "Optimizer.beta2": fraction(),
    "Optimizer.epsilon": positive(),
    "Optimizer.momentum": fraction(),
    "Optimizer.rho": fraction("RMSProp's running-average decay"),
    "Optimizer.clip_norm": positive("global gradient norm", nullable=True),
    "Optimizer.regularizer.coeff": non_negative("L2 weight decay"),
    "EMA.decay": fraction("weight of the running average per step"),
    "AMP.scale_loss": positive("initial loss scale"),
    "Loss.*.*.*.weight": non_negative("the loss term's weight"),
    "Loss.*.*.*.epsilon": fraction("label smoothing"),
    "DataLoader.*.sampler.batch_size": positive_int("images per device"),
    "DataLoader.*.loader.num_workers": Number(int, minimum=0, meaning="loader processes; "
                                              "0 loads in the training process"),
    **{f"{_BATCH_OPS}.{op}.alpha": positive("Beta(alpha, alpha) mixing") for op in _MIX_OPS},
    **{f"{_BATCH_OPS}.OpSampler.{op}.alpha": positive("Beta(alpha, alpha) mixing")
       for op in _MIX_OPS},
    **{f"{_BATCH_OPS}.{op}.prob": Number(float, minimum=0, maximum=1) for op in _MIX_OPS},
    **{f"{_BATCH_OPS}.OpSampler.{op}.prob": Number(float, minimum=0, maximum=1)
       for op in _MIX_OPS},
    **{f"{ops}.*.{op}.{key}": Ints((2,), "pixels: a side or [w, h]", scalar=True,
                                   nullable=True)
       for ops in ("DataLoader.*.dataset.transform_ops", "Infer.transforms")
       for op, key in (("RandCropImage", "size"), ("ResizeImage", "size"),
                       ("ResizeImage", "resize_short"), ("CropImage", "size"))},
    "Metric.*.*.TopkAcc.topk": Ints(None, "the k of each top-k accuracy", scalar=True),
    "Infer.batch_size": positive_int("images per forward pass"),
    "Infer.PostProcess.topk": positive_int("classes reported per image"),
}


def check_values(config, schema, path="<config>", overrides=()):
    """``ppcls_infer.values.check_values`` raising ConfigError."""
    return _check_values(config, schema, path, overrides, error=ConfigError)
