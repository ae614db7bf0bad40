"""Read Paddle's pickle files (.pdparams, .pdopt, .pdema, .pdstates) without running code.

The allow-list check is ``check_pickle_allowlist`` (the one function that decides whether a
pickle may be loaded); ``read_pickle`` is the only reader of a pickle file in the project.

``paddle.load`` is ``pickle.load``: a file someone sent you can import and call anything
(``os.system`` ...), and even the globals ``paddle.save`` writes can allocate any amount of
memory (``_reconstruct`` with a huge shape, one array referenced thousands of times). Here
the file's opcodes are first checked by ``pickle_scan.scan``, which builds nothing: only the
globals ``paddle.save`` really writes (the "Restricting Globals" recipe of Python's
``pickle`` docs, applied to the opcode stream), arrays no larger than the file's own bytes,
shared references bounded; anything else stops the load with one line naming the file and
what was refused. Only bytes that passed that check are then handed to ``paddle.load`` (from
memory, so the file cannot change in between), which keeps Paddle's own post-processing
(tensor names, >4 GB parameters split in pieces). ``guard_paddle_load`` also refuses
``paddle.load`` of a folder or a model prefix (Paddle's legacy routes unpickle
``.pdiparams.info`` unchecked).

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
import io
import os

from .errors import WeightsFileError
from .pickle_scan import ScanCorrupt, ScanRefused, scan

TRUST_ENV = "PPCLS_TRUST_PICKLE"


class UnsafeCheckpointError(WeightsFileError):
    """The file asks to import something a Paddle checkpoint never contains."""


def trust_enabled():
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def check_pickle_allowlist(data, path):
    """Check ``data`` (bytes of file ``path``) from its opcodes (``pickle_scan.scan``: the
    allow-listed globals, arrays no larger than the file's bytes, bounded shared references;
    nothing is built). Raise ``UnsafeCheckpointError`` on a refusal, ValueError on a broken
    file."""
    try:
        scan(data, path)
    except ScanRefused as exc:
        raise UnsafeCheckpointError(f"{exc}. If you made it yourself and trust it, set "
                                    f"{TRUST_ENV}=1.") from None
    except ScanCorrupt as exc:
        hint = ""
        if data[8:10] == b'{"':  # 8-byte header length, then JSON: the safetensors layout
            hint = "; it looks like a safetensors file: give it the .safetensors suffix"
        raise WeightsFileError(f"Cannot read {path!r}: the file is corrupt, truncated or not a "
                               f"Paddle checkpoint ({exc}){hint}") from None


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
                not isinstance(path, (str, os.PathLike)):
            return original(path, **configs)
        if not os.path.isfile(path):
            # a directory or a model prefix: Paddle's legacy routes unpickle
            # ``<prefix>.pdiparams.info`` (and older formats) without any check
            raise UnsafeCheckpointError(
                f"Refusing to load {os.fspath(path)!r}: it is not a file (a folder or a model "
                "prefix, which Paddle reads through unchecked pickles); pass the .pdparams "
                f"file itself. If you made it yourself and trust it, set {TRUST_ENV}=1.")
        with open(path, "rb") as f:
            data = f.read()
        check_pickle_allowlist(data, os.fspath(path))
        return original(io.BytesIO(data), **configs)

    guarded_load._ppcls_guarded = True
    guarded_load.__doc__ = original.__doc__
    paddle.load = guarded_load
