"""Checkpoints in PaddleClas's layout, written atomically, and resuming from them.

``{output_dir}/{Arch.name}/{prefix}.pdparams`` (model), ``.pdopt`` (optimizer, LR
scheduler inside), ``.pdema`` (EMA weights, when EMA is on) and ``.pdstates`` (epoch,
global step, best metric), with prefixes ``latest``, ``best_model`` and ``epoch_N`` as
PaddleClas writes them. Each file is written to a temporary name in the same folder,
flushed to disk and renamed over the old one, and ``.pdstates`` goes last: a run killed
while saving keeps the previous complete checkpoint.
"""
import os

import paddle

from ..arch.weights import read_state_dict

SUFFIXES = (".pdparams", ".pdopt", ".pdema", ".pdstates")


def _save_file(obj, path):
    tmp = f"{path}.tmp{os.getpid()}"
    paddle.save(obj, tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    return tmp


def save_checkpoint(save_dir, prefix, model, optimizer=None, ema=None, states=None):
    """Write ``{save_dir}/{prefix}.*``; returns the path prefix."""
    os.makedirs(save_dir, exist_ok=True)
    base = os.path.join(save_dir, prefix)
    parts = [(model.state_dict(), ".pdparams")]
    if optimizer is not None:
        parts.append((optimizer.state_dict(), ".pdopt"))
    if ema is not None:
        parts.append((ema.module.state_dict(), ".pdema"))
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
    return base


def _strip(path):
    for suffix in SUFFIXES:
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return path


def load_checkpoint(path, model, optimizer=None, ema=None):
    """Resume from ``Global.checkpoints`` (a prefix such as ``output/X/latest``).

    Returns the ``.pdstates`` dict (epoch, global_step, best_metric, ...).
    """
    base = _strip(path)
    needed = [".pdparams", ".pdstates"] + ([".pdopt"] if optimizer is not None else [])
    missing = [base + s for s in needed if not os.path.isfile(base + s)]
    if missing:
        raise FileNotFoundError(f"Global.checkpoints={path!r}: missing {missing}. Give the "
                                "prefix of a checkpoint written by training, e.g. "
                                "output/EConvNeXt_mini/latest")
    model.set_state_dict(read_state_dict(base + ".pdparams"))
    if optimizer is not None:
        optimizer.set_state_dict(read_state_dict(base + ".pdopt"))
    if ema is not None:
        if os.path.isfile(base + ".pdema"):
            ema.module.set_state_dict(read_state_dict(base + ".pdema"))
        else:  # EMA switched on for a resumed run: start it from the weights
            ema.set(model)
    return read_state_dict(base + ".pdstates")


def load_ema(path, ema, model):
    """The ``.pdema`` of checkpoint ``path`` into ``ema``, or ``model``'s weights when the
    checkpoint has none (EMA switched on for a resumed run). Called once the model holds
    the checkpoint's weights and before AMP decorates it."""
    base = _strip(path)
    if os.path.isfile(base + ".pdema"):
        ema.module.set_state_dict(read_state_dict(base + ".pdema"))
    else:
        ema.set(model)
