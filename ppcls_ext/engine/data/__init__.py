"""PaddleClas-compatible data stack: datasets, transforms, batch ops, loader, demo data.

Names are imported on first use (PEP 562), so importing a light submodule (e.g.
``ppcls_ext.engine.data.digits``) does not import Paddle.
"""
from ..._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), {
    **dict.fromkeys(("DATASETS", "ImageFolderDataset", "ImageNetDataset"), ".dataset"),
    **dict.fromkeys(("CorruptImageError", "decode_image"), ".decode"),
    **dict.fromkeys(("build_dataloader", "build_dataset"), ".loader"),
    "create_operators": ".transforms"})
