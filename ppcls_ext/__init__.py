"""E-ConvNeXt for PaddleClas.

Importing the package registers nothing (and imports no Paddle until a name is used, PEP 562).
:func:`register` (the tools call it) adds ``EConvNeXt_mini``, ``EConvNeXt_tiny`` and
``EConvNeXt_small`` to PaddleClas's arch registry, so ``Arch: {name: EConvNeXt_tiny}`` works in
any PaddleClas config, with the paddleclas wheel or with a source checkout (importable
``ppcls``, named by ``PADDLECLAS_ROOT``). It is idempotent and recorded
(``ppcls_ext.registry.unregister()`` undoes it).
"""
import importlib

__version__ = "0.1.0"

_LAZY = {name: ".arch" for name in ("DEFAULT_CFGS", "MODEL_NAMES", "EConvNeXt", "EConvNeXt_mini",
                                    "EConvNeXt_small", "EConvNeXt_tiny", "load_pretrained")}
_LAZY.update({name: ".registry" for name in ("available_models", "build_model", "register")})


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(_LAZY)
