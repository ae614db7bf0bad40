"""Read and write one weights or checkpoint file; match a state dict against a model.

* ``read_state_dict`` / ``write_state_dict``: the one way this project reads and writes a
  weights or checkpoint file. ``.safetensors`` goes through safetensors (nothing to
  unpickle); ``.pdparams``/``.pdopt``/``.pdema``/``.pdstates`` through the allow-list
  unpickler of ``pickle_file``. Writes are atomic (temp file, fsync, rename).
* ``match_state_dict``: which tensors of a state dict fit a model, and why the others do not
  (the classifier, ``CLASSIFIER_PREFIX``, may differ in shape: fine-tuning to a new class
  count); ``check_classifier_fit``: outside fine-tuning such a classifier is an error.
"""
import os

import numpy as np

from .errors import WeightsFileError
from .pickle_file import read_pickle
from .safetensors_file import SUFFIX as SAFETENSORS, load_safetensors, save_safetensors

# Parameters of the classifier (the Linear after pooling), whose shape follows class_num.
CLASSIFIER_PREFIX = "head."


def read_state_dict(path):
    """The dict in a weights/checkpoint file, read without running code from it.

    ``.safetensors`` -> safetensors; anything else is a Paddle pickle, read through the
    allow-list of ``ppcls_ext.io.pickle_file`` (``PPCLS_TRUST_PICKLE=1`` to bypass it).
    Raises ValueError (``UnsafeCheckpointError`` for a refused global) with the file named.
    """
    if str(path).endswith(SAFETENSORS):
        return load_safetensors(path)
    try:
        state = read_pickle(path)
    except ValueError:
        raise
    except Exception as exc:  # paddle raises several types for truncated/foreign files
        raise WeightsFileError(
            f"Cannot read weights from {path!r}: the file is corrupt, truncated or "
            f"not a Paddle .pdparams state dict ({type(exc).__name__}: {exc})")
    if not isinstance(state, dict):
        raise WeightsFileError(f"{path!r} holds a {type(state).__name__}, not a state dict "
                               "(name -> tensor) as paddle.save(model.state_dict()) writes.")
    return state


def write_temp(state, path):
    """Write ``state`` to ``{path}.tmp{pid}`` and flush it to disk; returns the temp name.

    The format follows ``path``'s suffix: ``.safetensors`` (tensors only) or ``paddle.save``'s
    pickle. The caller renames it (``write_state_dict``) or commits several together
    (``checkpoint.save_checkpoint``).
    """
    import paddle

    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        if path.endswith(SAFETENSORS):
            save_safetensors(state, tmp)
        else:
            paddle.save(state, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return tmp


def write_state_dict(state, path):
    """Write ``state`` atomically (temp file, fsync, rename); the format follows the suffix.

    ``.safetensors`` for tensors only; any other suffix is ``paddle.save``'s pickle. A reader
    sees the old file or the complete new one, never a partial write. Returns ``path``.
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = write_temp(state, path)
    try:
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


class ClassifierMismatchError(WeightsFileError):
    """A checkpoint's classifier has another class count, outside fine-tuning."""


def check_classifier_fit(model_state, state, path, fine_tune=False):
    """One rule for a classifier (``CLASSIFIER_PREFIX``) whose shape differs: training may
    drop it to fine-tune on a new class count (``fine_tune=True``); everything else (eval,
    infer, export, quantization) raises ``ClassifierMismatchError`` naming both shapes and the
    ``Arch.class_num`` the checkpoint was trained with. Paddle's Linear weight is
    ``[in, out]``: the class count is the last dimension."""
    if fine_tune:
        return
    differing = [k for k, v in state.items() if k.startswith(CLASSIFIER_PREFIX)
                 and k in model_state and _shape(v) != _shape(model_state[k])]
    if not differing:
        return
    if any(not k.startswith(CLASSIFIER_PREFIX) and k in model_state
           and _shape(v) != _shape(model_state[k]) for k, v in state.items()):
        return  # another model altogether: the caller's "does not fit" error names the tensors
    key = next((k for k in differing if k.endswith("weight")), differing[0])
    got, want = list(_shape(state[key])), list(_shape(model_state[key]))
    if got[-1] == want[-1]:
        return  # same class count, other features: not a class-count question
    raise ClassifierMismatchError(
        f"{path}: its classifier has {got[-1]} classes ({key} {got}) but the model is built "
        f"for {want[-1]} ({want}); evaluation, inference, export and quantization use the "
        f"classifier as trained: set Arch.class_num={got[-1]} (only training drops a "
        "classifier that does not fit, to fine-tune on a new class count)")
