"""Read Paddle's pickle files (.pdparams, .pdopt, .pdema, .pdstates) without running code.

The allow-list check is ``check_pickle_allowlist`` (the one function that decides whether a
pickle may be loaded); ``read_pickle`` is the only reader of a pickle file in the project.

``paddle.load`` is ``pickle.load``: a file someone sent you can import and call anything
(``os.system`` ...). Here the file is first unpickled by an ``Unpickler`` whose
``find_class`` only resolves the globals ``paddle.save`` really writes (the "Restricting
Globals" recipe of Python's ``pickle`` docs); any other global stops the load with one line
naming the file and the global, before anything is called. Only bytes that passed that check
are then handed to ``paddle.load`` (from memory, so the file cannot change in between), which
keeps Paddle's own post-processing (tensor names, >4 GB parameters split in pieces).

What Paddle 3.3.1 writes (``paddle/framework/io.py``; checked with a recording unpickler on
real files of this project: model, AdamW/Momentum optimizer with LR scheduler, EMA, states):
  * a state dict (``_legacy_save``): a dict of numpy arrays, so ``numpy.core.multiarray.
    _reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``; with ``protocol=2`` also
    ``_codecs.encode`` (how protocol 2 spells bytes);
  * any other object (``_pickle_save``; e.g. an optimizer state with a nested
    ``master_weights`` dict, PaddleClas's ``.pdopt`` (a list of optimizer states), or a
    states dict holding a tensor or numpy scalar): tensors
    become ``tuple((name, ndarray))`` -> ``builtins.tuple``; numpy scalars
    ``numpy.core.multiarray.scalar``; ``OrderedDict`` may appear inside.
  * numpy 2 spells the module ``numpy._core.multiarray``: accepted as the same functions.
Paddle's ``DenseTensor`` reduces to ``builtins.eval`` - refused: it is code execution, and
nothing this project saves holds one.

``PPCLS_TRUST_PICKLE=1`` skips the check and calls ``paddle.load`` on the file directly, for
files you made yourself that the check refuses (it is off by default).
"""
import _compat_pickle
import io
import os
import pickle

import numpy as np

from .errors import WeightsFileError

TRUST_ENV = "PPCLS_TRUST_PICKLE"

_NUMPY_CORE = np.core.multiarray
# (module, name) -> the object it resolves to. Nothing else is ever imported.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _NUMPY_CORE._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _NUMPY_CORE._reconstruct,
    ("numpy.core.multiarray", "scalar"): _NUMPY_CORE.scalar,
    ("numpy._core.multiarray", "scalar"): _NUMPY_CORE.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("builtins", "tuple"): tuple,
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("_codecs", "encode"): __import__("codecs").encode,
}


class UnsafeCheckpointError(WeightsFileError):
    """The file asks to import something a Paddle checkpoint never contains."""


def trust_enabled():
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file, encoding="latin1")  # as paddle.load reads
        self._path = path

    def find_class(self, module, name):
        # Python 2 spellings in protocol-2 pickles (__builtin__.tuple), mapped the way the
        # stdlib's own find_class does with fix_imports; the result is still allow-listed.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"Refusing to load {self._path!r}: it asks to import {module}.{name}, which "
                "paddle.save never writes (checkpoints hold only numpy arrays, dtypes, dicts, "
                "lists, tuples, numbers and strings); the file may be booby-trapped. If you "
                f"made it yourself and trust it, set {TRUST_ENV}=1.") from None

    def persistent_load(self, pid):
        raise UnsafeCheckpointError(f"Refusing to load {self._path!r}: it uses pickle "
                                    "persistent ids, which paddle.save never writes.")


def check_pickle_allowlist(data, path):
    """Unpickle ``data`` (bytes of file ``path``) with the allow-list; raise
    ``UnsafeCheckpointError`` on a refused global, ValueError on a broken file."""
    try:
        _AllowListUnpickler(io.BytesIO(data), path).load()
    except UnsafeCheckpointError:
        raise
    except Exception as exc:  # pickle raises many types on truncated/foreign bytes
        hint = ""
        if data[8:10] == b'{"':  # 8-byte header length, then JSON: the safetensors layout
            hint = "; it looks like a safetensors file: give it the .safetensors suffix"
        raise WeightsFileError(f"Cannot read {path!r}: the file is corrupt, truncated or not a "
                               f"Paddle checkpoint ({type(exc).__name__}: {exc}){hint}") from None


def read_pickle(path):
    """``paddle.load(path)`` for a pickle file, refusing any global outside the allow-list.

    The file is read once; the checked bytes are what ``paddle.load`` gets."""
    import paddle

    if trust_enabled():
        from .._ppcls import logger

        logger.warning("%s=1: loading %s with plain paddle.load (no allow-list)", TRUST_ENV, path)
        return paddle.load(path)
    with open(path, "rb") as f:
        data = f.read()
    check_pickle_allowlist(data, path)
    return paddle.load(io.BytesIO(data))


def guard_paddle_load():
    """Route every later ``paddle.load(file)`` in this process through the allow-list.

    For code this project runs but does not own: PaddleClas's engine under
    ``PADDLECLAS_ROOT`` calls ``paddle.load`` itself (``ppcls.utils.save_load``). Only a
    pickle read from a file path is checked; ``safetensors=True`` loads and in-memory
    buffers pass through. Idempotent.
    """
    import paddle

    original = paddle.load
    if getattr(original, "_ppcls_guarded", False):
        return

    def guarded_load(path, **configs):
        if trust_enabled() or configs.get("safetensors") or \
                not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
            return original(path, **configs)
        with open(path, "rb") as f:
            data = f.read()
        check_pickle_allowlist(data, os.fspath(path))
        return original(io.BytesIO(data), **configs)

    guarded_load._ppcls_guarded = True
    guarded_load.__doc__ = original.__doc__
    paddle.load = guarded_load
