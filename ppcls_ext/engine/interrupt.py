"""SIGTERM and Ctrl-C (SIGINT) stop training cleanly, within seconds.

Python's default SIGTERM action kills the process on the spot: no ``finally``, no
``multiprocessing`` exit handler, so DataLoader workers were left running; Ctrl-C ended in a
``KeyboardInterrupt`` traceback. ``stop_on_signals()`` (around the training loop) turns either
signal into ``SignalReceived`` (a BaseException, like KeyboardInterrupt, so no library's
``except Exception`` swallows it) raised in the main thread and ``TrainingInterrupted``
(a RuntimeError, the tools' one-line error) at the block's end; leaving the loop drops the
DataLoader iterator, whose shutdown terminates its workers, and the caller prints one line.
A signal arriving inside ``critical()`` (a checkpoint save) is held until the save has
completed, so the checkpoint the message names is whole. Workers ignore SIGINT
(``ignore_sigint_in_worker``): Ctrl-C reaches the whole process group, and a worker dying
on it would leave the main process waiting for its batch.
"""
import contextlib
import signal
import threading

from ppcls_infer.cli import UserError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(UserError, RuntimeError):
    """Training stopped by a signal; ``signum`` names it. The tools print the message as one
    line and exit with status 128 + signum (the shell's convention)."""

    def __init__(self, signum, message=None):
        self.signum = signum
        self.exit_status = 128 + int(signum)
        super().__init__(message or f"training stopped by {signal.Signals(signum).name}")


class SignalReceived(BaseException):
    """Raised by the handler: a BaseException (as KeyboardInterrupt), so that no library
    ``except Exception`` on the way swallows it; ``stop_on_signals`` converts it into
    TrainingInterrupted."""

    def __init__(self, signum):
        self.signum = signum
        super().__init__(signum)


_state = {"critical": 0, "pending": None, "active": False}


def _handler(signum, frame):
    if _state["critical"]:
        _state["pending"] = signum  # raised when the save in progress has completed
        return
    raise SignalReceived(signum)


@contextlib.contextmanager
def stop_on_signals():
    """Within the block, SIGTERM/SIGINT raise TrainingInterrupted (main thread only; other
    threads, e.g. a caller's, keep their handlers)."""
    if threading.current_thread() is not threading.main_thread() or _state["active"]:
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _state.update(critical=0, pending=None, active=True)
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    except SignalReceived as exc:
        raise TrainingInterrupted(exc.signum) from None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _state.update(active=False, critical=0, pending=None)


@contextlib.contextmanager
def critical():
    """Hold a signal until the block (a checkpoint save) has finished."""
    _state["critical"] += 1
    try:
        yield
    finally:
        _state["critical"] -= 1
        pending = _state["pending"]
        if not _state["critical"] and pending is not None:
            _state["pending"] = None
            raise SignalReceived(pending)


def ignore_sigint_in_worker():
    """For DataLoader workers: Ctrl-C is for the main process, which shuts them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
