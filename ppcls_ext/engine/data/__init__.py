"""PaddleClas-compatible data stack: datasets, transforms, batch ops, loader, demo data."""
from .dataset import DATASETS, ImageFolderDataset, ImageNetDataset
from .decode import CorruptImageError, decode_image
from .loader import build_dataloader, build_dataset
from .transforms import create_operators

__all__ = ["DATASETS", "CorruptImageError", "ImageFolderDataset", "ImageNetDataset",
           "build_dataloader", "build_dataset", "create_operators", "decode_image"]
