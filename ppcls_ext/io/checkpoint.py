"""Checkpoints in PaddleClas's layout, written atomically, and resuming from them.

``{output_dir}/{Arch.name}/{prefix}.pdparams`` (model), ``.pdopt`` (optimizer, LR
scheduler inside), ``.pdema`` (EMA weights, when EMA is on) and ``.pdstates`` (epoch,
global step, best metric), with prefixes ``latest``, ``best_model`` and ``epoch_N`` as
PaddleClas writes them. Each file is written to a temporary name in the same folder and
flushed to disk; only when all are complete does a small journal, ``{prefix}.commit``, list
the renames, which then replace the old files (``.pdstates`` last) before the journal goes.
A run killed while writing keeps the previous complete checkpoint; one killed between the
renames leaves the journal, and ``recover_interrupted_save`` (run before every save and
resume) finishes them, so a checkpoint never mixes files of two saves. A write error (disk
full, ...) raises ``CheckpointWriteError`` and leaves the previous checkpoint as it was.

With ``Global.save_format: safetensors`` the model and EMA weights are written as
``{prefix}.safetensors`` and ``{prefix}.ema.safetensors`` instead (``.pdopt`` and
``.pdstates`` hold non-tensor state and stay Paddle pickles). Every file is read back
through ``state_dict.read_state_dict``, i.e. never by unpickling unchecked bytes.
"""
import glob
import json
import os

from ..validation import ConfigError
from .errors import WeightsFileError, WeightsNotFoundError
from .paths import CHECKPOINT_SUFFIXES, SAVE_FORMATS, WEIGHT_SUFFIXES, find_weights, strip_suffix
from .state_dict import match_state_dict, read_state_dict, write_temp

JOURNAL = ".commit"


class CheckpointWriteError(RuntimeError):
    """Writing a checkpoint failed; the previous one is intact."""


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)  # the renames themselves survive a crash only once the folder is synced
    finally:
        os.close(fd)


def _write_journal(base, pending):
    tmp = f"{base}{JOURNAL}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump([[os.path.basename(t), os.path.basename(d)] for t, d in pending], f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, base + JOURNAL)


def _read_journal(base):
    """The journal's (temp, final) pairs, accepted only if each names a file of this
    checkpoint: the folder may come from someone else, and a pair such as
    ``["x.tmp1", "../../.bashrc"]`` would otherwise overwrite any file the user can write."""
    name = os.path.basename(base)
    try:
        with open(base + JOURNAL) as f:
            pairs = json.load(f)
        ok = isinstance(pairs, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(n, str) for n in p)
            and p[1] in {name + s for s in CHECKPOINT_SUFFIXES} and p[0].startswith(p[1] + ".tmp")
            and os.path.basename(p[0]) == p[0] and p[0][len(p[1]) + 4:].isdigit()
            for p in pairs)
    except ValueError:
        ok = False
    if not ok:
        raise WeightsFileError(
            f"{base + JOURNAL!r} is not a save journal written by this engine "
            f"(it may only rename {name}.<suffix>.tmp<pid> to {name}.<suffix>); "
            "delete it if you trust the folder, otherwise do not use the checkpoint")
    return pairs


def recover_interrupted_save(base):
    """Finish the renames of a save of ``base`` killed between them; drop stale temporaries.

    Returns True when an interrupted commit was completed.
    """
    folder = os.path.dirname(os.path.abspath(base))
    finished = False
    if os.path.isfile(base + JOURNAL):
        pairs = _read_journal(base)
        for tmp, final in pairs:
            if os.path.exists(os.path.join(folder, tmp)):
                os.replace(os.path.join(folder, tmp), os.path.join(folder, final))
                finished = True
        os.remove(base + JOURNAL)
    # temporaries of a save killed while writing: never complete, never part of a checkpoint
    for stale in glob.glob(glob.escape(base) + ".*.tmp*"):
        os.remove(stale)
    return finished


def save_checkpoint(save_dir, prefix, model, optimizer=None, ema=None, states=None,
                    weights_format="pdparams"):
    """Write ``{save_dir}/{prefix}.*``; returns the path prefix.

    ``weights_format`` (``Global.save_format``): ``pdparams`` (PaddleClas's) or
    ``safetensors`` for the model and EMA weights.
    """
    if weights_format not in WEIGHT_SUFFIXES:
        raise ConfigError(f"Global.save_format must be one of {', '.join(SAVE_FORMATS)}, got "
                          f"{weights_format!r}")
    weights_suffix, ema_suffix = WEIGHT_SUFFIXES[weights_format]
    os.makedirs(save_dir, exist_ok=True)
    base = os.path.join(save_dir, prefix)
    recover_interrupted_save(base)
    parts = [(model.state_dict(), weights_suffix)]
    if optimizer is not None:
        parts.append((optimizer.state_dict(), ".pdopt"))
    if ema is not None:
        parts.append((ema.module.state_dict(), ema_suffix))
    parts.append((dict(states or {}), ".pdstates"))
    pending = []
    try:
        for obj, suffix in parts:
            pending.append((f"{base}{suffix}.tmp{os.getpid()}", base + suffix))
            write_temp(obj, base + suffix)
        _write_journal(base, pending)
    except BaseException as exc:
        for tmp in [t for t, _ in pending] + [f"{base}{JOURNAL}.tmp{os.getpid()}"]:
            if os.path.exists(tmp):  # the previous checkpoint stays as it was
                os.remove(tmp)
        if isinstance(exc, OSError):
            kept = f"The previous checkpoint {base}.* is intact" if os.path.exists(
                base + ".pdstates") else f"No earlier {base}.* existed"
            raise CheckpointWriteError(
                f"cannot write checkpoint {base}.* ({exc.strerror or exc}: "
                f"{getattr(exc, 'filename', None) or pending[-1][0]}); training stopped. {kept}; "
                "free space or change Global.output_dir, then resume from the last checkpoint "
                "with Global.checkpoints") from exc
        raise
    for tmp, final in pending:
        os.replace(tmp, final)
    os.remove(base + JOURNAL)
    _fsync_dir(save_dir)
    # The other format's weights of this prefix are now stale: resume must not pick them.
    for fmt, suffixes in WEIGHT_SUFFIXES.items():
        for suffix in suffixes if fmt != weights_format else ():
            if os.path.exists(base + suffix):
                os.remove(base + suffix)
    return base


def _fitting_state(state, model, path, shown=4):
    """Resume is strict (Paddle's set_state_dict only warns and skips): a checkpoint of another
    Arch or class_num is refused with the keys that do not fit."""
    report = match_state_dict(model.state_dict(), state)
    problems = [(what, keys) for what, keys in (
        ("differ in shape", report["skipped_head"] + report["mismatched"]),
        ("missing in the checkpoint", report["missing"]),
        ("not in the model", report["unexpected"])) if keys]
    if problems:
        listed = "; ".join(f"{len(keys)} {what}: {', '.join(keys[:shown])}"
                           f"{', ...' if len(keys) > shown else ''}" for what, keys in problems)
        raise WeightsFileError(
            f"Global.checkpoints: {path!r} does not fit the model (another Arch or "
            f"class_num?): {listed}. Resume with the config that wrote it, or "
            "start from it with Global.pretrained_model (weights only)")
    return report["loadable"]  # float16/bfloat16 weights converted to the model's dtype


def load_checkpoint(path, model, optimizer=None):
    """Resume from ``Global.checkpoints`` (a prefix such as ``output/X/latest``): the model
    weights (checked to fit) and the optimizer state, whose ``LR_Scheduler`` entry restores
    the LR schedule as PaddleClas's resume does. The EMA weights are ``load_ema``'s.

    Returns the ``.pdstates`` dict (epoch, global_step, best_metric, ...).
    """
    base = strip_suffix(path)
    recover_interrupted_save(base)
    weights = find_weights(base)
    needed = [".pdstates"] + ([".pdopt"] if optimizer is not None else [])
    missing = [base + s for s in needed if not os.path.isfile(base + s)]
    if weights is None:
        missing.insert(0, f"{base}.pdparams (or .safetensors)")
    if missing:
        raise WeightsNotFoundError(f"Global.checkpoints={path!r}: missing {missing}. Give the "
                                   "prefix of a checkpoint written by training, e.g. "
                                   "output/EConvNeXt_mini/latest")
    model.set_state_dict(_fitting_state(read_state_dict(weights), model, weights))
    if optimizer is not None:
        optimizer.set_state_dict(read_state_dict(base + ".pdopt"))
    return read_state_dict(base + ".pdstates")


def load_ema(path, ema, model):
    """The EMA weights of checkpoint ``path`` (``.pdema`` or ``.ema.safetensors``, checked to
    fit) into ``ema``, or ``model``'s weights when the checkpoint has none (EMA switched on
    for a resumed run). The engine calls it once the model holds the checkpoint's weights and
    before AMP decorates it."""
    ema_weights = find_weights(strip_suffix(path), ema=True)
    if ema_weights is not None:
        ema.module.set_state_dict(_fitting_state(read_state_dict(ema_weights), ema.module,
                                                 ema_weights))
    else:
        ema.set(model)
