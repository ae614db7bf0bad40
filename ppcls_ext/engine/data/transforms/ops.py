"""Per-image transform ops with PaddleClas's names and keys, and ``create_operators``.

The geometric and normalisation ops are the paddleclas wheel's deploy ops themselves
(``paddleclas.deploy.python.preprocess``), so that training-time eval and deployment
preprocess an image with the same code. Written here: ``DecodeImage`` (robust, see
decode.py), ``TimmAutoAugment`` (randaugment.py) and ``RandomErasing`` (random_erasing.py).
"""
import inspect

import numpy as np
from paddleclas.deploy.python import preprocess as _wheel

from ..decode import decode_image
from .randaugment import TimmAutoAugment
from .random_erasing import RandomErasing


class DecodeImage:
    """Bytes -> HWC uint8 array, RGB (``to_rgb``) or BGR, optionally CHW.

    Keys as PaddleClas's op; ``backend`` is accepted for config compatibility, decoding always
    goes through PIL (EXIF, CMYK, 16-bit, alpha and truncation handled, see decode.py).
    """

    def __init__(self, to_rgb=True, to_np=True, channel_first=False, backend="cv2"):
        if backend not in ("cv2", "pil"):
            raise ValueError(f"DecodeImage.backend must be 'cv2' or 'pil', got {backend!r}")
        self.to_rgb, self.channel_first = to_rgb, channel_first

    def __call__(self, data, source="<bytes>"):
        img = decode_image(data, source)
        if not self.to_rgb:
            img = np.ascontiguousarray(img[:, :, ::-1])
        if self.channel_first:
            img = img.transpose((2, 0, 1))
        return img


class CropImage(_wheel.CropImage):
    """Center crop (the wheel's op) with a clear message for an image smaller than the crop."""

    def __call__(self, img):
        w, h = self.size
        if img.shape[0] < h or img.shape[1] < w:
            raise ValueError(f"CropImage size ({h}, {w}) is larger than the image "
                             f"{tuple(img.shape[:2])}; resize first (ResizeImage resize_short "
                             f">= {max(h, w)}).")
        return super().__call__(img)


OPS = {
    "DecodeImage": DecodeImage,
    "ResizeImage": _wheel.ResizeImage,
    "CropImage": CropImage,
    "RandCropImage": _wheel.RandCropImage,
    "RandFlipImage": _wheel.RandFlipImage,
    "NormalizeImage": _wheel.NormalizeImage,
    "ToCHWImage": _wheel.ToCHWImage,
    "TimmAutoAugment": TimmAutoAugment,
    "RandomErasing": RandomErasing,
}


def op_keywords(cls):
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def build_op(name, kwargs, registry, where="transform_ops"):
    """Instantiate ``registry[name](**kwargs)`` with errors that name the op and its keys."""
    if name not in registry:
        raise ValueError(f"Unknown op {name!r} in {where}; valid ops: {', '.join(registry)}")
    cls = registry[name]
    kwargs = {} if kwargs is None else dict(kwargs)
    valid = op_keywords(cls)
    params = inspect.signature(cls.__init__).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise ValueError(f"{where}: op {name} got unknown key(s) {unknown}; valid keys: "
                             f"{', '.join(valid) or '(none)'}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"{where}: op {name} rejected {kwargs}: {exc}") from exc


def _split(entry, where):
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ValueError(f"{where}: each op must be a one-key mapping like "
                         f"'- ResizeImage: {{resize_short: 256}}', got {entry!r}")
    return next(iter(entry.items()))


def create_operators(op_list, registry=None, where="transform_ops"):
    """PaddleClas ``transform_ops`` list ``[{OpName: {key: value}}, ...]`` -> callables."""
    registry = OPS if registry is None else registry
    if op_list is None:
        return []
    if not isinstance(op_list, (list, tuple)):
        raise ValueError(f"{where} must be a list of ops, got {type(op_list).__name__}")
    return [build_op(*_split(entry, where), registry, where) for entry in op_list]
