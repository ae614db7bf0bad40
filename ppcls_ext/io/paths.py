"""Weights and checkpoint file names: suffixes, prefixes, and which file a path means.

A checkpoint is a path prefix (``output/EConvNeXt_mini/latest``, as PaddleClas's
``Global.checkpoints`` / ``pretrained_model`` omit the suffix) plus one file per part:

=====================  =========================================  ===================
part                   ``save_format: pdparams`` (PaddleClas's)    ``safetensors``
=====================  =========================================  ===================
model weights          ``.pdparams``                               ``.safetensors``
EMA weights            ``.pdema``                                  ``.ema.safetensors``
optimizer (+ LR)       ``.pdopt``                                  ``.pdopt``
epoch/step/best        ``.pdstates``                               ``.pdstates``
=====================  =========================================  ===================

``resolve_weights_path`` is the one function that turns a user-given path, prefix, folder or
URL into the weights file to read; the engine, export, slim and detection all call it, so
the rule about which file wins (the model weights, or the EMA weights with
``Global.use_ema_weights``) is here only, and ``describe_weights`` names the choice in each
tool's log.
"""
import os

from .errors import WeightsNotFoundError
from .safetensors_file import SUFFIX as SAFETENSORS

SAVE_FORMATS = ("pdparams", "safetensors")
# format -> (model weights suffix, EMA weights suffix)
WEIGHT_SUFFIXES = {"pdparams": (".pdparams", ".pdema"),
                   "safetensors": (SAFETENSORS, ".ema" + SAFETENSORS)}
# every suffix of a checkpoint's files, longest first (".ema.safetensors" before ".safetensors")
CHECKPOINT_SUFFIXES = (".ema.safetensors", ".safetensors", ".pdparams", ".pdopt", ".pdema",
                       ".pdstates")
# suffixes that name a weights file (model or EMA)
WEIGHTS_SUFFIXES = (".pdparams", ".pdema", SAFETENSORS)


def is_url(path):
    return str(path).startswith(("http://", "https://"))


def strip_suffix(path):
    """``path`` without a checkpoint suffix: the checkpoint's prefix."""
    path = os.fspath(path)
    for suffix in CHECKPOINT_SUFFIXES:
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return path


def find_weights(prefix, ema=False):
    """The existing model (or, ``ema=True``, EMA) weights file of checkpoint ``prefix``, or None.

    Both formats present (a run killed between writing one and removing the other, or two
    exports side by side): the newer file wins.
    """
    kind = 1 if ema else 0
    found = [prefix + WEIGHT_SUFFIXES[fmt][kind] for fmt in SAVE_FORMATS
             if os.path.isfile(prefix + WEIGHT_SUFFIXES[fmt][kind])]
    return max(found, key=os.path.getmtime) if found else None


def checkpoint_prefixes(folder):
    """The checkpoint prefixes in ``folder`` that have model weights (``{prefix}.pdparams`` or
    ``{prefix}.safetensors``), sorted."""
    found = set()
    for name in os.listdir(folder):
        for suffix in (".pdparams", SAFETENSORS):
            if name.endswith(suffix) and not name.endswith(".ema" + SAFETENSORS) and \
                    os.path.isfile(os.path.join(folder, name)):
                found.add(os.path.join(folder, name[:-len(suffix)]))
    return sorted(found)


def _single_prefix(folder):
    prefixes = checkpoint_prefixes(folder)
    if len(prefixes) == 1:
        return prefixes[0]
    names = ", ".join(os.path.basename(p) for p in prefixes) or "none"
    raise WeightsNotFoundError(
        f"{folder!r} is a folder: it must hold exactly one checkpoint to mean its weights, "
        f"and holds {len(prefixes)} ({names}); give the prefix, e.g. "
        f"{os.path.join(folder, os.path.basename(prefixes[0]) if prefixes else 'best_model')}")


def resolve_weights_path(path_or_url, use_ema=False):
    """The local weights file that ``path_or_url`` means: the one rule that evaluation,
    inference, fine-tuning, export and quantization all apply (so the model evaluated is the
    model deployed).

    * an http(s) URL: downloaded and cached by PaddleClas's ``get_weights_path_from_url``;
    * a folder holding exactly one checkpoint (``latest.pdparams`` + ...): that prefix (a
      folder with none or several is refused, naming the prefixes found);
    * a file ending in ``.pdparams``, ``.pdema`` or ``.safetensors`` (``.ema.safetensors``
      included): that file;
    * a prefix without suffix (PaddleClas's ``Global.pretrained_model`` form): its model
      weights, ``.pdparams`` or ``.safetensors`` (the newer if both exist), as PaddleClas's
      eval and export load ``{prefix}.pdparams``.

    ``use_ema`` (``Global.use_ema_weights``): the EMA weights of the prefix instead
    (``{prefix}.pdema`` or ``{prefix}.ema.safetensors``); WeightsNotFoundError when the
    checkpoint has none. Raises WeightsNotFoundError (a FileNotFoundError) naming the
    candidates tried.
    """
    path = os.fspath(path_or_url)
    if is_url(path):
        from .._ppcls import ppcls_module

        path = ppcls_module("utils.download").get_weights_path_from_url(path)
    if os.path.isdir(path):
        path = _single_prefix(path)
    if use_ema:
        ema_file = find_weights(strip_suffix(path), ema=True)
        if ema_file is not None:
            return ema_file
        prefix = strip_suffix(path)
        raise WeightsNotFoundError(
            f"Global.use_ema_weights=True but {prefix!r} has no EMA weights ({prefix}.pdema or "
            f"{prefix}.ema.safetensors; a run writes them with an EMA section): drop "
            "use_ema_weights to use the model weights")
    if path.endswith(WEIGHTS_SUFFIXES):
        if os.path.isfile(path):
            return path
        candidates = [path]
    else:
        found = find_weights(path)
        if found is not None:
            return found
        candidates = [path + WEIGHT_SUFFIXES[fmt][0] for fmt in SAVE_FORMATS]
    raise WeightsNotFoundError(
        f"Weights file not found: {' or '.join(map(repr, candidates))}. Give a .pdparams or "
        ".safetensors file (the suffix may be omitted, as in PaddleClas's "
        "Global.pretrained_model), a folder with one checkpoint, or an http(s) URL.")


def describe_weights(path, action, use_ema=False):
    """The log line naming the weights a tool uses, e.g. ``evaluating the model weights
    output/X/latest.pdparams (Global.use_ema_weights=True takes its EMA weights
    output/X/latest.pdema)``; ``path``: what ``resolve_weights_path`` returned."""
    is_ema = path.endswith((".pdema", ".ema" + SAFETENSORS))
    prefix = strip_suffix(path)
    other = find_weights(prefix, ema=not is_ema) if os.path.exists(path) else None
    line = f"{action} the {'EMA' if is_ema else 'model'} weights {path}"
    if other is not None:
        flag = "False" if is_ema else "True"
        line += (f" (Global.use_ema_weights={flag} takes its "
                 f"{'model' if is_ema else 'EMA'} weights {other})")
    return line
