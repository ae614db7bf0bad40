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

``resolve_weights_path`` is the one function that turns a user-given path, prefix or URL
into the weights file to read; the engine, export, slim and detection all call it, so a rule
about which file wins (e.g. EMA or plain weights) is changed here only.
"""
import os

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


def resolve_weights_path(path_or_url, prefer_ema=False):
    """The local weights file that ``path_or_url`` means.

    * an http(s) URL: downloaded and cached by PaddleClas's ``get_weights_path_from_url``;
    * a file ending in ``.pdparams``, ``.pdema`` or ``.safetensors`` (``.ema.safetensors``
      included): that file;
    * a prefix without suffix (PaddleClas's ``Global.pretrained_model`` form): its
      ``.pdparams`` or ``.safetensors`` (the newer if both exist).

    ``prefer_ema``: the EMA weights beside the file (``{prefix}.pdema`` or
    ``{prefix}.ema.safetensors``) when they exist (what export uses). Raises
    FileNotFoundError naming the candidates tried.
    """
    path = os.fspath(path_or_url)
    if is_url(path):
        from .._ppcls import ppcls_module

        path = ppcls_module("utils.download").get_weights_path_from_url(path)
    if prefer_ema:
        ema_file = find_weights(strip_suffix(path), ema=True)
        if ema_file is not None:
            return ema_file
    if path.endswith(WEIGHTS_SUFFIXES):
        if os.path.isfile(path):
            return path
        candidates = [path]
    else:
        found = find_weights(path)
        if found is not None:
            return found
        candidates = [path + WEIGHT_SUFFIXES[fmt][0] for fmt in SAVE_FORMATS]
    raise FileNotFoundError(
        f"Weights file not found: {' or '.join(map(repr, candidates))}. Give a .pdparams or "
        ".safetensors file (the suffix may be omitted, as in PaddleClas's "
        "Global.pretrained_model) or an http(s) URL.")
