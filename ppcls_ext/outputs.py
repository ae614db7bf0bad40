"""Writing into an output folder that a stranger may have prepared.

An output folder can come from elsewhere (a downloaded run to resume, a shared disk), so a
file there may be a planted symlink, another run may be writing into it, and the disk may be
full or read-only. The rules here:

* ``atomic_write`` writes a new temporary (``tempfile.mkstemp``: ``O_EXCL``, so never through
  an existing name or symlink) next to the target, fsyncs it and ``os.replace``-s it over the
  target (a rename replaces a symlink itself, never the file it points to).
* ``refuse_symlink`` refuses a path that is a symlink (log files opened for appending, the
  VisualDL folder): the user gets one line naming it instead of writes landing elsewhere.
* ``OutputLock`` takes ``fcntl.flock`` on ``<folder>/.lock`` (holder's pid, host and start time
  written inside). A second process gets ``OutputBusyError`` naming the holder; the kernel
  drops the lock when its holder dies, so a lock left by a dead run is taken over.
* ``swap_in_folder`` installs a fully written staging folder in place of the old one
  (``renameat2(RENAME_EXCHANGE)`` on Linux: one atomic step), so a failed export leaves the
  previous export intact.
* ``OutputError`` (a ``UserError``: one line from the tools) turns a full disk, read-only folder or missing permission
  into one line naming the path.
"""
import contextlib
import ctypes
import datetime
import errno
import json
import os
import shutil
import socket
import tempfile

from ppcls_infer.atomic import atomic_write as _atomic_write
from ppcls_infer.atomic import umask
from ppcls_infer.cli import DISK_ERRNOS, UserError


class OutputError(UserError, RuntimeError):
    """An output could not be written; the message names the path and the cause (the tools
    print it as one line)."""


class OutputBusyError(OutputError):
    """Another live process holds the output folder's lock."""


def describe_os_error(exc, path, what="write"):
    """One line for an OSError while writing ``path``."""
    cause = DISK_ERRNOS.get(exc.errno) or exc.strerror or str(exc)
    return f"cannot {what} {path}: {cause} (errno {exc.errno})"


@contextlib.contextmanager
def output_errors(path, what="write"):
    """Turn OSError from a full disk, read-only folder or permissions into OutputError."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(describe_os_error(exc, path, what)) from exc


def refuse_symlink(path):
    """Raise OutputError if ``path`` exists as a symlink (so writes would go elsewhere)."""
    if os.path.islink(path):
        raise OutputError(f"{path} is a symlink (to {os.readlink(path)}); refusing to write "
                          "through it: remove it or choose another output folder")
    return path


def atomic_write(path, data=None, writer=None, mode="w"):
    """Write ``data`` (str/bytes) or call ``writer(tmp_path)`` and move the result over
    ``path`` atomically (``ppcls_infer.atomic.atomic_write``). Never writes through a symlink;
    the old file stays whole on error; a full disk or read-only folder is an OutputError."""
    with output_errors(path):
        return _atomic_write(path, data, writer, mode)


def write_json(path, obj, **kwargs):
    return atomic_write(path, json.dumps(obj, **kwargs))


# ------------------------------------------------------------------------------ lock
_HELD = {}  # realpath -> [fd, count]: one process may open the same engine folder twice


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputLock:
    """Exclusive use of ``folder`` by this process while held (``with`` or acquire/release)."""

    NAME = ".lock"

    def __init__(self, folder, what="training"):
        self.folder, self.what = folder, what
        self.path = os.path.join(folder, self.NAME)
        self.key = None

    def acquire(self):
        import fcntl

        with output_errors(self.folder, "lock"):
            os.makedirs(self.folder, exist_ok=True)
            key = os.path.realpath(self.folder)
            if key in _HELD:
                _HELD[key][1] += 1
                self.key = key
                return self
            refuse_symlink(self.path)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0),
                         0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = self._read(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise OutputError(describe_os_error(exc, self.path, "lock")) from exc
            raise OutputBusyError(
                f"output folder {self.folder} is in use by {self._describe(holder)}; wait for "
                "it to finish or choose another Global.output_dir") from None
        previous = self._read(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                "start": datetime.datetime.now().isoformat(timespec="seconds")}
        with output_errors(self.path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        _HELD[key] = [fd, 1]
        self.key = key
        self.previous = previous  # a dead run's record, taken over
        return self

    @staticmethod
    def _read(fd):
        try:
            return json.loads(os.pread(fd, 4096, 0) or b"{}")
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _describe(holder):
        if not holder:
            return "another process"
        alive = "" if holder.get("host") != socket.gethostname() or \
            _pid_alive(int(holder.get("pid", 0) or 0)) else " (not running any more)"
        return (f"{holder.get('what', 'a run')} pid {holder.get('pid')} on host "
                f"{holder.get('host')} started {holder.get('start')}{alive}")

    def release(self):
        if self.key is None or self.key not in _HELD:
            return
        entry = _HELD[self.key]
        entry[1] -= 1
        if entry[1] <= 0:
            del _HELD[self.key]
            os.close(entry[0])  # closing the descriptor drops the flock
        self.key = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# ------------------------------------------------------------------------ folder swap
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a, b):
    """Swap two paths atomically (Linux renameat2); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), b)


def staging_folder(target):
    """A new empty folder next to ``target`` (same file system, so the swap is a rename)."""
    parent = os.path.dirname(os.path.abspath(target)) or "."
    with output_errors(target, "create a folder next to"):
        os.makedirs(parent, exist_ok=True)
        folder = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", suffix=".staging",
                                  dir=parent)
        os.chmod(folder, 0o777 & ~umask())  # mkdtemp's 0700 would become the export's mode
        return folder


def swap_in_folder(staged, target):
    """Put the folder ``staged`` at ``target``; the previous ``target`` is removed only after
    the new one is in place. ``target`` must not be a symlink."""
    refuse_symlink(target)
    with output_errors(target):
        if not os.path.exists(target):
            os.rename(staged, target)
            return target
        if not os.path.isdir(target):
            raise OutputError(f"{target} exists and is not a folder")
        if _exchange(staged, target):
            shutil.rmtree(staged, ignore_errors=True)  # now holds the previous export
            return target
        old = staged + ".old"
        os.rename(target, old)
        try:
            os.rename(staged, target)
        except OSError:
            os.rename(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    return target
