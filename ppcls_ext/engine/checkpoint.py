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
    pending = [(_save_file(model.state_dict(), base + ".pdparams"), base + ".pdparams")]
    if optimizer is not None:
        pending.append((_save_file(optimizer.state_dict(), base + ".pdopt"), base + ".pdopt"))
    if ema is not None:
        pending.append((_save_file(ema.module.state_dict(), base + ".pdema"), base + ".pdema"))
    pending.append((_save_file(dict(states or {}), base + ".pdstates"), base + ".pdstates"))
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
