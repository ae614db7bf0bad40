"""The project's one run-once / undoable patch mechanism.

Everything this project changes in another library at run time (PaddleClas's arch registry,
PaddleDetection's workspace and its Paddle 3 fixes, PIL's truncated-image flag around ppdet's
import) goes through :func:`apply`: a named patch runs once per process, and every attribute
or mapping item it sets is recorded with its previous value, so :func:`undo` puts the library
back exactly as it was (tests use :func:`applied` as a context manager). The shape follows
``unittest.mock.patch`` / pytest's ``monkeypatch`` (set, remember, restore in reverse order),
kept by name so that ``install()`` calls are idempotent.
"""
import contextlib

_MISSING = object()
# patch name -> list of undo steps (callables), in the order they were recorded
_RECORDS = {}


class Recorder:
    """Handed to a patch function: sets attributes / items and remembers how to undo them."""

    def __init__(self, steps):
        self._steps = steps

    def setattr(self, target, name, value):
        """``setattr(target, name, value)``, the previous value (or its absence) recorded."""
        old = target.__dict__.get(name, _MISSING) if hasattr(target, "__dict__") \
            else getattr(target, name, _MISSING)

        def restore():
            if old is _MISSING:
                if name in getattr(target, "__dict__", {}):
                    delattr(target, name)
            else:
                setattr(target, name, old)
        self._steps.append(restore)
        setattr(target, name, value)

    def setitem(self, mapping, key, value):
        """``mapping[key] = value``, the previous item (or its absence) recorded."""
        old = mapping.get(key, _MISSING)

        def restore():
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old
        self._steps.append(restore)
        mapping[key] = value

    def on_undo(self, fn):
        """Run ``fn()`` on undo (for state that is not an attribute or an item)."""
        self._steps.append(fn)


def apply(name, fn):
    """Run ``fn(recorder)`` once under ``name``; later calls do nothing. Returns True when it
    ran now. If ``fn`` raises, what it had already set is undone."""
    if name in _RECORDS:
        return False
    steps = []
    try:
        fn(Recorder(steps))
    except BaseException:
        for restore in reversed(steps):
            restore()
        raise
    _RECORDS[name] = steps
    return True


def is_applied(name):
    return name in _RECORDS


def names(prefix=""):
    """Names of the applied patches (those starting with ``prefix``), in application order."""
    return [n for n in _RECORDS if n.startswith(prefix)]


def undo(name):
    """Restore what patch ``name`` changed (no-op if it is not applied)."""
    for restore in reversed(_RECORDS.pop(name, [])):
        restore()


def undo_all(prefix=""):
    """Undo every applied patch whose name starts with ``prefix``, newest first."""
    for name in reversed(names(prefix)):
        undo(name)


@contextlib.contextmanager
def applied(install):
    """``with applied(ppcls_ext.det.install): ...``: the patches ``install()`` adds exist
    inside the block only (patches applied before the block stay applied)."""
    before = set(_RECORDS)
    install()
    try:
        yield
    finally:
        for name in reversed([n for n in _RECORDS if n not in before]):
            undo(name)
