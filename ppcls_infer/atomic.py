"""Atomic file writes (Paddle-free): a reader never sees a half-written file.

The rule of ``ppcls_ext.outputs.atomic_write`` for the training package, usable by the deploy
predictors, which must not import it: the data goes to a new temporary file next to the
target (``tempfile.mkstemp``: ``O_EXCL``, so never through an existing name or symlink), is
fsynced and then ``os.replace``-d over the target (a rename replaces a symlink itself, never
the file it points to). On any error the temporary file is removed and the old target stays
whole. OSError (full disk, read-only folder) propagates; callers word it. The file gets the
permissions a plain ``open(path, "w")`` would give (``0o666`` less the umask), or keeps those of
the file it replaces: ``mkstemp``'s private ``0o600`` would leave exported models and results
unreadable to the other users of a shared model folder.
"""
import contextlib
import functools
import json
import os
import tempfile


@functools.lru_cache(maxsize=None)
def umask():
    """The process's umask, read once (``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode(path):
    """Permission bits for ``path``: those of the file it replaces, else 0o666 less the
    umask (what ``open(path, "w")`` would give)."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o666 & ~umask()


def atomic_write(path, data=None, writer=None, mode="w"):
    """Write ``data`` (str or bytes) to ``path``, or call ``writer(tmp_path)`` to produce the
    file, then move it over ``path`` in one step. Creates the parent folder. Returns
    ``path``. The temporary name keeps ``path``'s extension (writers that pick the format
    from it, such as Pillow's ``save``, see the right one)."""
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp" + os.path.splitext(base)[1],
                               dir=folder)
    try:
        if writer is None:
            with os.fdopen(fd, mode + ("b" if isinstance(data, bytes) else "")) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        else:
            os.close(fd)
            writer(tmp)
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_json(path, obj, indent=1, **kwargs):
    """``obj`` as JSON (``json.dumps(obj, indent=indent, **kwargs)``) into ``path``,
    atomically: the result files of the predictors (``det_results.json``,
    ``Global.save_results``). Returns ``path``."""
    return atomic_write(path, json.dumps(obj, indent=indent, **kwargs) + "\n")
