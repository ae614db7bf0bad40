"""Training engine reading PaddleClas configs: data, losses, optimizer, metrics, loop.

Names are imported on first use (PEP 562), so importing a light submodule (e.g.
``ppcls_ext.engine.data.digits``) does not import Paddle.
"""
import importlib


_LAZY = {
    'ConfigError': '.config',
    'load_config': '.config',
    'validate_config': '.config',
    'Engine': '.engine',
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(_LAZY)
