"""Checkpoints in PaddleClas's layout, written atomically, and resuming from them.

``{output_dir}/{Arch.name}/{prefix}.pdparams`` (model), ``.pdopt`` (optimizer, LR
scheduler inside), ``.pdema`` (EMA weights, when EMA is on) and ``.pdstates`` (epoch,
global step, best metric), with prefixes ``latest``, ``best_model`` and ``epoch_N`` as
PaddleClas writes them. Each file is written to a temporary name in the same folder,
flushed to disk and renamed over the old one, and ``.pdstates`` goes last: a run killed
while saving keeps the previous complete checkpoint.

With ``Global.save_format: safetensors`` the model and EMA weights are written as
``{prefix}.safetensors`` and ``{prefix}.ema.safetensors`` instead (``.pdopt`` and
``.pdstates`` hold non-tensor state and stay Paddle pickles). Every file is read back
through ``read_state_dict``, i.e. never by unpickling unchecked bytes.
"""
import os

import paddle

from ..arch.weights import read_state_dict
from ..safetensors_io import save_safetensors

SAVE_FORMATS = ("pdparams", "safetensors")
# format -> (model weights suffix, EMA weights suffix)
WEIGHT_SUFFIXES = {"pdparams": (".pdparams", ".pdema"),
                   "safetensors": (".safetensors", ".ema.safetensors")}
SUFFIXES = (".ema.safetensors", ".safetensors", ".pdparams", ".pdopt", ".pdema", ".pdstates")


def _save_file(obj, path):
    tmp = f"{path}.tmp{os.getpid()}"
    if path.endswith(".safetensors"):
        save_safetensors(obj, tmp)
    else:
        paddle.save(obj, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    return tmp


def save_checkpoint(save_dir, prefix, model, optimizer=None, ema=None, states=None,
                    weights_format="pdparams"):
    """Write ``{save_dir}/{prefix}.*``; returns the path prefix.

    ``weights_format`` (``Global.save_format``): ``pdparams`` (PaddleClas's) or
    ``safetensors`` for the model and EMA weights.
    """
    if weights_format not in WEIGHT_SUFFIXES:
        raise ValueError(f"Global.save_format must be one of {', '.join(SAVE_FORMATS)}, got "
                         f"{weights_format!r}")
    weights_suffix, ema_suffix = WEIGHT_SUFFIXES[weights_format]
    os.makedirs(save_dir, exist_ok=True)
    base = os.path.join(save_dir, prefix)
    parts = [(model.state_dict(), weights_suffix)]
    if optimizer is not None:
        parts.append((optimizer.state_dict(), ".pdopt"))
    if ema is not None:
        parts.append((ema.module.state_dict(), ema_suffix))
    parts.append((dict(states or {}), ".pdstates"))
    pending = []
    try:
        for obj, suffix in parts:
            pending.append((_save_file(obj, base + suffix), base + suffix))
    except BaseException:
        for tmp, _ in pending:  # interrupted: the previous checkpoint stays as it was
            if os.path.exists(tmp):
                os.remove(tmp)
        raise
    for tmp, final in pending:
        os.replace(tmp, final)
    # The other format's weights of this prefix are now stale: resume must not pick them.
    for fmt, suffixes in WEIGHT_SUFFIXES.items():
        for suffix in suffixes if fmt != weights_format else ():
            if os.path.exists(base + suffix):
                os.remove(base + suffix)
    return base


def _strip(path):
    for suffix in SUFFIXES:
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return path


def _weights_file(base, kind):
    """``base`` + the model (kind 0) or EMA (kind 1) weights suffix that exists, or None.

    Both formats present (a run killed between writing one and removing the other): the
    newer file wins.
    """
    found = [base + WEIGHT_SUFFIXES[fmt][kind] for fmt in SAVE_FORMATS
             if os.path.isfile(base + WEIGHT_SUFFIXES[fmt][kind])]
    return max(found, key=os.path.getmtime) if found else None


def load_checkpoint(path, model, optimizer=None, ema=None):
    """Resume from ``Global.checkpoints`` (a prefix such as ``output/X/latest``).

    Returns the ``.pdstates`` dict (epoch, global_step, best_metric, ...).
    """
    base = _strip(path)
    weights = _weights_file(base, 0)
    needed = [".pdstates"] + ([".pdopt"] if optimizer is not None else [])
    missing = [base + s for s in needed if not os.path.isfile(base + s)]
    if weights is None:
        missing.insert(0, f"{base}.pdparams (or .safetensors)")
    if missing:
        raise FileNotFoundError(f"Global.checkpoints={path!r}: missing {missing}. Give the "
                                "prefix of a checkpoint written by training, e.g. "
                                "output/EConvNeXt_mini/latest")
    model.set_state_dict(read_state_dict(weights))
    if optimizer is not None:
        optimizer.set_state_dict(read_state_dict(base + ".pdopt"))
    if ema is not None:
        ema_weights = _weights_file(base, 1)
        if ema_weights is not None:
            ema.module.set_state_dict(read_state_dict(ema_weights))
        else:  # EMA switched on for a resumed run: start it from the weights
            ema.set(model)
    return read_state_dict(base + ".pdstates")
