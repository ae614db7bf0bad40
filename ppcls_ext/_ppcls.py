"""Locate PaddleClas: a source checkout (top-level ``ppcls``) or the paddleclas wheel.

PaddleClas lives in two places that name the same modules differently:

* a source checkout puts ``ppcls`` at the top level once its root is on ``sys.path``
  (or named by the ``PADDLECLAS_ROOT`` environment variable);
* the ``paddleclas`` wheel ships ``paddleclas.ppcls.arch`` and ``paddleclas.ppcls.utils`` only.

This module finds which are importable, so that the rest of the project can register its
backbones into every arch registry present and build on one ``TheseusLayer`` base class.
"""
import importlib
import logging
import os
import sys

ENV_ROOT = "PADDLECLAS_ROOT"


def _add_checkout_to_path():
    root = os.environ.get(ENV_ROOT)
    if not root:
        return None
    root = os.path.abspath(os.path.expanduser(root))
    if not os.path.isfile(os.path.join(root, "ppcls", "__init__.py")):
        raise FileNotFoundError(
            f"{ENV_ROOT}={root!r} is not a PaddleClas source checkout: "
            f"{os.path.join(root, 'ppcls', '__init__.py')} does not exist. Point {ENV_ROOT} at "
            "the folder that contains ppcls/, tools/ and deploy/, or unset it to use the "
            "paddleclas wheel.")
    if root not in sys.path:
        sys.path.insert(0, root)
    return root


def _import_or_none(name):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        # Only "this package is absent" means absent; a checkout whose own imports fail
        # must surface its real error instead of silently falling back to the wheel.
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def arch_packages():
    """Prefixes of the importable PaddleClas packages, checkout first: ``ppcls``, ``paddleclas.ppcls``."""
    _add_checkout_to_path()
    found = []
    checkout = _import_or_none("ppcls")
    # A stray ``ppcls`` without the arch registry (e.g. an unrelated module) is not PaddleClas.
    if checkout is not None and _import_or_none("ppcls.arch") is not None:
        found.append("ppcls")
    if _import_or_none("paddleclas.ppcls.arch") is not None:
        found.append("paddleclas.ppcls")
    if not found:
        raise ModuleNotFoundError(
            "PaddleClas is not importable: install the wheel with `pip install paddleclas==2.6.0` "
            f"or set {ENV_ROOT} to a PaddleClas source checkout.")
    return found


_PRIMARY = arch_packages()[0]


def ppcls_module(relative):
    """Import ``<primary PaddleClas package>.<relative>``, e.g. ``ppcls_module('utils.logger')``."""
    return importlib.import_module(f"{_PRIMARY}.{relative}")


TheseusLayer = ppcls_module("arch.backbone.base.theseus_layer").TheseusLayer
# PaddleClas's utils.logger crashes until init_logger() runs; its records go to the standard
# "ppcls" logger, so log there directly: before init Python's last-resort handler shows warnings.
logger = logging.getLogger("ppcls")


def share_ppcls_logger(logger_modules):
    """Make every copy of PaddleClas's ``utils.logger`` treat the "ppcls" logger as initialised.

    The wheel's ``paddleclas.py`` runs ``init_logger()`` on import; a checkout's copy of the
    module has its own ``_logger = None`` and so adds a second stdout handler to the same
    logging.Logger: every line printed twice. Its ``init_logger`` skips the stdout handler when
    ``_logger`` is set and already holds one (found by handler name), so point it there.
    """
    shared = logging.getLogger("ppcls")
    if not any(h.get_name() == "stream_handler" for h in shared.handlers):
        return
    for module in logger_modules:
        if getattr(module, "_logger", False) is None:
            module._logger = shared


if len(arch_packages()) > 1:
    share_ppcls_logger([m for m in (_import_or_none(f"{p}.utils.logger") for p in arch_packages())
                        if m is not None])


def resolve_paddleclas_path(path):
    """``path`` if it exists, else the same relative path inside the paddleclas wheel (configs
    name files such as ``ppcls/utils/imagenet1k_label_list.txt`` relative to a checkout,
    and the wheel ships them), else None."""
    if not path or os.path.isfile(path):
        return path or None
    import paddleclas

    in_wheel = os.path.join(os.path.dirname(paddleclas.__file__), path)
    return in_wheel if os.path.isfile(in_wheel) else None
