"""Per-image transform ops with PaddleClas's names and keys, and ``create_operators``.

The geometric and normalisation ops are the paddleclas wheel's deploy ops themselves
(``paddleclas.deploy.python.preprocess``) or thin subclasses of them (key checks, PaddleClas's
``use_log_aspect``), so that training-time eval and deployment preprocess an image with the
same code. Written here: robust decoding (decode.py), ``TimmAutoAugment`` (randaugment.py) and
``RandomErasing`` (random_erasing.py).
"""
import math
import random

import numpy as np
from paddleclas.deploy.python import preprocess as _wheel

from ....factory import build_op, split_entry
from ..decode import decode_image
from .randaugment import TimmAutoAugment
from .random_erasing import RandomErasing


_BACKENDS = ("cv2", "pil")
_INTERPOLATIONS = {"cv2": ("nearest", "bilinear", "area", "bicubic", "lanczos", "random"),
                   "pil": ("nearest", "bilinear", "bicubic", "box", "lanczos", "hamming", "random")}


def _check_resize_keys(op_name, interpolation, backend):
    """The wheel's ``UnifiedResize`` fails obscurely (NameError, KeyError) on a bad backend or
    interpolation name: name the key and the valid values instead."""
    if not isinstance(backend, str) or backend.lower() not in _BACKENDS:
        raise ValueError(f"{op_name}.backend must be one of {list(_BACKENDS)}, got {backend!r}")
    valid = _INTERPOLATIONS[backend.lower()]
    if interpolation is not None and (not isinstance(interpolation, str)
                                      or interpolation.lower() not in valid):
        raise ValueError(f"{op_name}.interpolation {interpolation!r} is not valid for backend "
                         f"{backend!r}; valid: {list(valid)}")


class DecodeImage(_wheel.DecodeImage):
    """Bytes -> HWC uint8 array, RGB (``to_rgb``) or BGR, optionally CHW (``channel_first``).

    PaddleClas's keys; decoding goes through PIL (decode.py) whatever ``backend`` says, so that
    EXIF rotation, CMYK, 16-bit, alpha and truncated files are handled. For ordinary 8-bit
    JPEG/PNG files the pixels equal the wheel's cv2 decoding (tested). ``to_np: False`` (a
    PIL image in PaddleClas) also yields an array: every op here accepts arrays.
    """

    def __init__(self, to_rgb=True, to_np=True, channel_first=False, backend="cv2"):
        if not isinstance(backend, str) or backend.lower() not in _BACKENDS:
            raise ValueError(f"DecodeImage.backend must be one of {list(_BACKENDS)}, "
                             f"got {backend!r}")
        super().__init__(to_rgb=to_rgb, to_np=to_np, channel_first=channel_first)

    def __call__(self, data, source="<bytes>"):
        img = decode_image(data, source)
        if not self.to_rgb:
            img = np.ascontiguousarray(img[:, :, ::-1])
        if self.channel_first:
            img = img.transpose((2, 0, 1))
        return img


class ResizeImage(_wheel.ResizeImage):
    """The wheel's resize (``size`` or ``resize_short``), with its keys checked up front."""

    def __init__(self, size=None, resize_short=None, interpolation=None, backend="cv2",
                 return_numpy=True):
        _check_resize_keys("ResizeImage", interpolation, backend)
        super().__init__(size, resize_short, interpolation, backend, return_numpy)


class CropImage(_wheel.CropImage):
    """Center crop (the wheel's op) with a clear message for an image smaller than the crop."""

    def __call__(self, img):
        w, h = self.size
        if img.shape[0] < h or img.shape[1] < w:
            raise ValueError(f"CropImage size ({h}, {w}) is larger than the image "
                             f"{tuple(img.shape[:2])}; resize first (ResizeImage resize_short "
                             f">= {max(h, w)}).")
        return super().__call__(img)


class RandCropImage(_wheel.RandCropImage):
    """Random resized crop: the wheel's op, plus PaddleClas's ``use_log_aspect`` key.

    With ``use_log_aspect`` the aspect ratio is drawn uniformly in log space (as PaddleClas's
    training op and torchvision's RandomResizedCrop do); otherwise the wheel's own sampling.
    ``progress_size`` (progressive resizing, driven by PaddleClas's engine) is not supported.
    """

    def __init__(self, size, progress_size=None, scale=None, ratio=None, interpolation=None,
                 use_log_aspect=False, backend="cv2"):
        if progress_size is not None:
            raise ValueError("RandCropImage.progress_size (progressive resizing) is not "
                             "supported; remove the key")
        _check_resize_keys("RandCropImage", interpolation, backend)
        super().__init__(size, scale, ratio, interpolation, backend)
        self.use_log_aspect = bool(use_log_aspect)

    def __call__(self, img):
        if not self.use_log_aspect:
            return super().__call__(img)
        aspect = math.exp(random.uniform(*(math.log(r) for r in self.ratio)))
        img_h, img_w = img.shape[:2]
        bound = min(img_w / img_h / aspect, img_h / img_w * aspect)
        area = img_w * img_h * random.uniform(min(self.scale[0], bound),
                                              min(self.scale[1], bound))
        w = min(img_w, max(1, int(math.sqrt(area * aspect))))
        h = min(img_h, max(1, int(math.sqrt(area / aspect))))
        left, top = random.randint(0, img_w - w), random.randint(0, img_h - h)
        return self._resize_func(img[top:top + h, left:left + w, :], self.size)


OPS = {
    "DecodeImage": DecodeImage,
    "ResizeImage": ResizeImage,
    "CropImage": CropImage,
    "RandCropImage": RandCropImage,
    "RandFlipImage": _wheel.RandFlipImage,
    "NormalizeImage": _wheel.NormalizeImage,
    "ToCHWImage": _wheel.ToCHWImage,
    "TimmAutoAugment": TimmAutoAugment,
    "RandomErasing": RandomErasing,
}


def is_channel_first(ops):
    """Whether ``ops`` (built by ``create_operators``) end with a CHW array; if not, the
    dataset transposes the HWC result, as PaddleClas's ``CommonDataset`` always does."""
    chw = False
    for op in ops:
        if isinstance(op, DecodeImage):
            chw = bool(op.channel_first)
        elif isinstance(op, _wheel.ToCHWImage):
            chw = True
    return chw


_OP_EXAMPLE = "- ResizeImage: {resize_short: 256}"


def create_operators(op_list, registry=None, where="transform_ops"):
    """PaddleClas ``transform_ops`` list ``[{OpName: {key: value}}, ...]`` -> callables."""
    registry = OPS if registry is None else registry
    if op_list is None:
        return []
    if not isinstance(op_list, (list, tuple)):
        raise ValueError(f"{where} must be a list of ops, got {type(op_list).__name__}")
    return [build_op(*split_entry(entry, where, "op", _OP_EXAMPLE), registry, where)
            for entry in op_list]
