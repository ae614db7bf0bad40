"""PaddleClas-compatible data stack: datasets, transforms, batch ops, loader, demo data.

Names are imported on first use (PEP 562), so importing a light submodule (e.g.
``ppcls_ext.engine.data.digits``) does not import Paddle.
"""
import importlib


_LAZY = {
    'DATASETS': '.dataset',
    'ImageFolderDataset': '.dataset',
    'ImageNetDataset': '.dataset',
    'CorruptImageError': '.decode',
    'decode_image': '.decode',
    'build_dataloader': '.loader',
    'build_dataset': '.loader',
    'create_operators': '.transforms',
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
