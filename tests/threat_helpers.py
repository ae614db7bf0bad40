"""Helpers of the threat-model tests (tests/test_threat_*.py)."""


class Reduce:
    """An object that pickles as ``func(*args)`` (then ``BUILD`` with ``state``): how the
    tests write a trapped or oversized pickle without the trap firing while writing."""

    def __init__(self, func, args, state=None):
        self.r = (func, args) if state is None else (func, args, state)

    def __reduce__(self):
        return self.r
