"""The weights I/O failures a user causes: a file they named that is missing or unusable.

Both are ``ppcls_infer.cli.UserError`` (the tools print one ``error:`` line) and keep the
built-in type callers already catch (``FileNotFoundError``, ``ValueError``).
"""
from ppcls_infer.cli import UserError


class WeightsNotFoundError(UserError, FileNotFoundError):
    """A weights or checkpoint path named by the user (config value, argument) does not exist."""


class WeightsFileError(UserError, ValueError):
    """A weights or checkpoint file named by the user cannot be used: corrupt or truncated, not
    a state dict, altered after writing, refused by the allow-list, or of another model."""
