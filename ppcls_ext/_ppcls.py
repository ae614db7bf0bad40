"""Locate PaddleClas: a source checkout (top-level ``ppcls``) or the paddleclas wheel.

PaddleClas lives in two places that name the same modules differently:

* a source checkout puts ``ppcls`` at the top level once its root is importable (on
  ``PYTHONPATH`` or ``pip install -e``'d, as PaddleClas's install guide does); the
  ``PADDLECLAS_ROOT`` environment variable names it, and this module checks that the
  ``ppcls`` imported is that checkout;
* the ``paddleclas`` wheel ships ``paddleclas.ppcls.arch`` and ``paddleclas.ppcls.utils`` only.

This module finds which are importable, so that ``ppcls_ext.register()`` can add the
backbones to every arch registry present and the model builds on one ``TheseusLayer`` base
class. Importing it imports PaddleClas (the model's base class lives there) and changes
nothing in it.
"""
import importlib
import importlib.util
import logging
import os

from ppcls_infer.cli import MissingPathError

ENV_ROOT = "PADDLECLAS_ROOT"


def checkout_root():
    """The PaddleClas checkout named by ``PADDLECLAS_ROOT`` (absolute), or None; raises
    FileNotFoundError when it names no checkout."""
    root = os.environ.get(ENV_ROOT)
    if not root:
        return None
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isfile(os.path.join(root, "ppcls", "__init__.py")):
        raise MissingPathError(
            f"{ENV_ROOT}={root!r} is not a PaddleClas source checkout: "
            f"{os.path.join(root, 'ppcls', '__init__.py')} does not exist. Point {ENV_ROOT} at "
            "the folder that contains ppcls/, tools/ and deploy/, or unset it to use the "
            "paddleclas wheel.")
    return root


def _check_checkout(root, module):
    where = os.path.abspath(getattr(module, "__file__", None) or "")
    if module is None or not where.startswith(os.path.join(root, "")):
        found = f"ppcls is imported from {where}" if module is not None \
            else "ppcls is not importable"
        raise ModuleNotFoundError(
            f"{ENV_ROOT}={root!r} but {found}: put the checkout on the import path "
            f"(export PYTHONPATH={root}:$PYTHONPATH, or pip install -e {root}).")


def _import_or_none(name):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only "this package is absent" means absent; a checkout whose own imports fail
        # must surface its real error instead of silently falling back to the wheel.
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def _paddleclas_spec():
    """The import spec ``paddleclas`` resolves to, or None."""
    try:
        return importlib.util.find_spec("paddleclas")
    except (ImportError, ValueError):
        return None


def _wheel_importable():
    """Whether ``paddleclas`` names the wheel's package. A checkout's root holds a module
    ``paddleclas.py`` (PaddleClas's pip entry point, with relative imports), which shadows the
    wheel once that root is on ``PYTHONPATH`` as PaddleClas's install guide puts it: importing
    ``paddleclas.ppcls`` then fails with "attempted relative import", so the wheel is skipped."""
    spec = _paddleclas_spec()
    return spec is not None and spec.submodule_search_locations is not None


def arch_packages():
    """Prefixes of the importable PaddleClas packages, checkout first: ``ppcls``, ``paddleclas.ppcls``."""
    root = checkout_root()
    found = []
    checkout = _import_or_none("ppcls")
    if root:
        _check_checkout(root, checkout)
    # A stray ``ppcls`` without the arch registry (e.g. an unrelated module) is not PaddleClas.
    if checkout is not None and _import_or_none("ppcls.arch") is not None:
        found.append("ppcls")
    if _wheel_importable() and _import_or_none("paddleclas.ppcls.arch") is not None:
        found.append("paddleclas.ppcls")
    if not found:
        raise ModuleNotFoundError(
            "PaddleClas is not importable: install the wheel with `pip install paddleclas==2.6.0` "
            f"or set {ENV_ROOT} to a PaddleClas source checkout.{_shadow_note()}")
    return found


def _shadow_note():
    spec = _paddleclas_spec()
    if spec is None or spec.submodule_search_locations is not None:  # absent, or the wheel
        return ""
    return (f" ('paddleclas' resolves to the module {spec.origin}, a PaddleClas checkout's "
            "entry point, which hides the paddleclas wheel)")


def wheel_module(relative):
    """Import ``paddleclas.<relative>`` (e.g. ``deploy.python.preprocess``, which a checkout's
    ``ppcls`` lacks). Raises ModuleNotFoundError naming the culprit when a checkout's
    ``paddleclas.py`` on the import path hides the wheel."""
    if not _wheel_importable():
        raise ModuleNotFoundError(
            f"this needs paddleclas.{relative} from the paddleclas wheel, which is not "
            f"importable{_shadow_note()}. Run the tools with {ENV_ROOT} set (PaddleClas's own "
            "engine), or `pip install -e` the checkout instead of putting it on PYTHONPATH.")
    return importlib.import_module(f"paddleclas.{relative}")


_PRIMARY = arch_packages()[0]


def ppcls_module(relative):
    """Import ``<primary PaddleClas package>.<relative>``, e.g. ``ppcls_module('utils.logger')``."""
    return importlib.import_module(f"{_PRIMARY}.{relative}")


TheseusLayer = ppcls_module("arch.backbone.base.theseus_layer").TheseusLayer
# PaddleClas's utils.logger crashes until init_logger() runs; its records go to the standard
# "ppcls" logger, so log there directly: before init Python's last-resort handler shows warnings.
logger = logging.getLogger("ppcls")


def ppcls_logger_modules():
    """Every importable copy of PaddleClas's ``utils.logger`` (checkout and wheel)."""
    return [m for m in (_import_or_none(f"{p}.utils.logger") for p in arch_packages())
            if m is not None]
