"""Loading and converting E-ConvNeXt weights.

* ``read_state_dict`` / ``write_state_dict``: the one way this project reads and writes a
  weights or checkpoint file. ``.safetensors`` goes through safetensors (nothing to
  unpickle); ``.pdparams``/``.pdopt``/``.pdema``/``.pdstates`` through ``safe_load``'s
  allow-list unpickler (no ``paddle.load`` on an unchecked pickle anywhere).
* ``load_pretrained``: a local ``.pdparams`` or ``.safetensors`` (suffix optional) or a URL,
  as PaddleClas's ``load_dygraph_pretrain`` accepts, but tolerant of a classifier of another
  width (fine-tuning to a new class count) and explicit about every key it did not use.
* ``convert_authors_state_dict``: maps a checkpoint saved by the E-ConvNeXt authors'
  reference code (their layer names, see SPEC.md) onto this implementation's names, in the
  spirit of timm's ``checkpoint_filter_fn``.
"""
import os
import re

import numpy as np

from .._ppcls import logger, ppcls_module
from ..safe_load import safe_paddle_load
from ..safetensors_io import SUFFIX as SAFETENSORS, load_safetensors, save_safetensors

CLASSIFIER_PREFIX = "head."

# (authors' name pattern, ours). Applied in order; the first match wins.
_AUTHORS_RENAMES = [
    (r"^Down_Conv\.conv(\d)\.", r"stem.conv\1."),
    (r"^stages\.(\d+)\.down\.0\.", r"stages.\1.down."),
    (r"^head\.fc_cls\.", r"head."),
]
# Parameters the authors' code creates but never uses: dropped on purpose.
_AUTHORS_UNUSED = re.compile(r"\.gamma$")


def _is_url(path):
    return path.startswith(("http://", "https://"))


def resolve_weights_path(path_or_url):
    """Local weights file for a path or URL (downloaded and cached).

    ``.pdparams``, ``.pdema`` (EMA weights) or ``.safetensors``; without a suffix
    ``X.pdparams`` is tried, then ``X.safetensors`` (PaddleClas's Global.pretrained_model
    omits ``.pdparams``).
    """
    if _is_url(path_or_url):
        path_or_url = ppcls_module("utils.download").get_weights_path_from_url(path_or_url)
    if path_or_url.endswith((".pdparams", ".pdema", SAFETENSORS)):
        candidates = [path_or_url]
    else:
        candidates = [path_or_url + ".pdparams", path_or_url + SAFETENSORS]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"Weights file not found: {' or '.join(map(repr, candidates))}. Give a .pdparams or "
        ".safetensors file (the suffix may be omitted, as in PaddleClas's "
        "Global.pretrained_model) or an http(s) URL.")


def read_state_dict(path):
    """The dict in a weights/checkpoint file, read without running code from it.

    ``.safetensors`` -> safetensors; anything else is a Paddle pickle, read through the
    allow-list of ``ppcls_ext.safe_load`` (``PPCLS_TRUST_PICKLE=1`` to bypass it).
    Raises ValueError (``UnsafeCheckpointError`` for a refused global) with the file named.
    """
    if str(path).endswith(SAFETENSORS):
        return load_safetensors(path)
    try:
        state = safe_paddle_load(path)
    except ValueError:
        raise
    except Exception as exc:  # paddle raises several types for truncated/foreign files
        raise ValueError(f"Cannot read weights from {path!r}: the file is corrupt, truncated or "
                         f"not a Paddle .pdparams state dict ({type(exc).__name__}: {exc})")
    if not isinstance(state, dict):
        raise ValueError(f"{path!r} holds a {type(state).__name__}, not a state dict "
                         "(name -> tensor) as paddle.save(model.state_dict()) writes.")
    return state


def write_state_dict(state, path):
    """Write ``state`` atomically (temp file, fsync, rename); the format follows the suffix.

    ``.safetensors`` for tensors only; any other suffix is ``paddle.save``'s pickle.
    """
    import paddle

    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        if path.endswith(SAFETENSORS):
            save_safetensors(state, tmp)
        else:
            paddle.save(state, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _shape(value):
    return tuple(value.shape)


def _fit_dtype(value, want):
    """``value`` in the dtype of model tensor ``want``, or None if it cannot be.

    Floating point converts to floating point (weights shared in float16/bfloat16 load into
    a float32 model, as timm/transformers loaders do); any other dtype difference, e.g.
    integers for a float parameter, cannot.
    """
    import paddle

    if not isinstance(value, paddle.Tensor):
        value = paddle.to_tensor(np.asarray(value))
    if value.dtype == want.dtype:
        return value
    if paddle.is_floating_point(value) and paddle.is_floating_point(want):
        return value.astype(want.dtype)
    return None


def match_state_dict(model_state, state):
    """Split ``state`` against ``model_state``: what loads, and what does not and why.

    A tensor whose shape differs is an error unless it belongs to the classifier, which is
    skipped so that a checkpoint trained on another class count can seed fine-tuning. Another
    floating-point dtype is converted (listed in ``cast``); another kind of dtype is an error.
    """
    loadable, skipped_head, mismatched, cast = {}, [], [], []
    for key, value in state.items():
        if key not in model_state:
            continue
        want, got = _shape(model_state[key]), _shape(value)
        if want != got:
            (skipped_head if key.startswith(CLASSIFIER_PREFIX) else mismatched).append(
                f"{key}: checkpoint {got} vs model {want}")
            continue
        fitted = _fit_dtype(value, model_state[key])
        if fitted is None:
            mismatched.append(f"{key}: checkpoint dtype {value.dtype} vs model "
                              f"{model_state[key].dtype}")
            continue
        if fitted is not value and getattr(value, "dtype", None) != model_state[key].dtype:
            cast.append(key)
        loadable[key] = fitted
    return dict(loadable=loadable, skipped_head=skipped_head, mismatched=mismatched, cast=cast,
                missing=sorted(set(model_state) - set(state)),
                unexpected=sorted(set(state) - set(model_state)))


def load_pretrained(model, path_or_url):
    """Load weights into ``model``; returns the ``match_state_dict`` report (+ ``path``).

    Raises FileNotFoundError for a missing file, ValueError for an unreadable one or for a
    shape (or non-float dtype) mismatch outside the classifier.
    """
    path = resolve_weights_path(path_or_url)
    report = match_state_dict(model.state_dict(), read_state_dict(path))
    if report["mismatched"]:
        raise ValueError(f"{path!r} does not fit this model (shape mismatch outside the "
                         f"classifier or a dtype clash; wrong variant?) in {len(report['mismatched'])} "
                         f"tensors: {report['mismatched'][:5]}")
    if not report["loadable"]:
        raise ValueError(f"{path!r} shares no parameter name with this model (it has e.g. "
                         f"{report['unexpected'][:3]}, the model wants e.g. "
                         f"{report['missing'][:3]}); is it an E-ConvNeXt checkpoint? Authors' "
                         "checkpoints need tools/convert_weights.py --arch first.")
    if report["cast"]:
        logger.info("%d tensors of %s converted to the model's dtype, e.g. %s",
                    len(report["cast"]), path, report["cast"][:3])
    if report["skipped_head"]:
        logger.warning("Classifier not loaded (class count differs, fine-tuning): %s",
                       "; ".join(report["skipped_head"]))
    if report["missing"]:
        logger.warning("%d model parameters not in %s, left at their init: %s",
                       len(report["missing"]), path, report["missing"][:10])
    if report["unexpected"]:
        logger.warning("%d checkpoint entries unused by the model: %s",
                       len(report["unexpected"]), report["unexpected"][:10])
    model.set_state_dict(report["loadable"])
    logger.info("Loaded weights from %s", path)
    report["path"] = path
    return report


def _rename_authors_key(key):
    for pattern, repl in _AUTHORS_RENAMES:
        new, count = re.subn(pattern, repl, key)
        if count:
            return new
    return key


def _fit_shape(value, want):
    """Return ``value`` as an array of shape ``want``, or None if it cannot fit.

    The only reshaping accepted is a Linear weight ([in, out] in Paddle) standing for a 1x1
    convolution ([out, in, 1, 1]): reference code may write the pointwise convs either way.
    """
    array = np.asarray(value)
    if tuple(array.shape) == tuple(want):
        return array
    if array.ndim == 2 and len(want) == 4 and tuple(want[2:]) == (1, 1) \
            and tuple(array.shape) == (want[1], want[0]):
        return array.T.reshape(want)
    return None


def convert_authors_state_dict(state, model_state):
    """Map the authors' checkpoint onto ``model_state``'s names.

    Returns (converted, report) where report lists ``unmapped`` source keys, ``dropped``
    (known-unused) keys, ``missing`` model keys and ``shape_errors``; the caller decides
    whether any of these is fatal.
    """
    converted, unmapped, dropped, shape_errors = {}, [], [], []
    for key, value in state.items():
        if _AUTHORS_UNUSED.search(key):
            dropped.append(key)
            continue
        new_key = _rename_authors_key(key)
        if new_key not in model_state:
            unmapped.append(key)
            continue
        want = _shape(model_state[new_key])
        fitted = _fit_shape(value.numpy() if hasattr(value, "numpy") else value, want)
        if fitted is None:
            shape_errors.append(f"{key} -> {new_key}: {_shape(value)} vs model {want}")
            continue
        converted[new_key] = fitted
    report = dict(unmapped=unmapped, dropped=dropped, shape_errors=shape_errors,
                  missing=sorted(set(model_state) - set(converted)))
    return converted, report
