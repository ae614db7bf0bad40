"""Per-image transform ops with PaddleClas's names and keys, and ``create_operators``.

The inference ops (decode, resize, crop, normalise, CHW) are the Paddle-free ``ppcls_infer``
ones that the deploy predictor also uses, so that training-time eval and deployment
preprocess an image with the same code; they equal the paddleclas wheel's deploy ops pixel
for pixel (tested). The random training ops are the wheel's (``RandFlipImage``) or thin
subclasses of them (``RandCropImage``: key checks, PaddleClas's ``use_log_aspect``).
Written here: ``TimmAutoAugment`` (randaugment.py) and ``RandomErasing`` (random_erasing.py).
"""
import math
import random

from ppcls_infer import preprocess as _infer
from ppcls_infer.preprocess import (CropImage, DecodeImage, ResizeImage,  # noqa: F401
                                    check_resize_keys, check_side)
from .randaugment import TimmAutoAugment
from .random_erasing import RandomErasing
from ...._ppcls import wheel_module
from ....validation import ConfigError

_wheel = wheel_module("deploy.python.preprocess")


class RandCropImage(_wheel.RandCropImage):
    """Random resized crop: the wheel's op, plus PaddleClas's ``use_log_aspect`` key.

    With ``use_log_aspect`` the aspect ratio is drawn uniformly in log space (as PaddleClas's
    training op and torchvision's RandomResizedCrop do); otherwise the wheel's own sampling.
    ``progress_size`` (progressive resizing, driven by PaddleClas's engine) is not supported.
    """

    def __init__(self, size, progress_size=None, scale=None, ratio=None, interpolation=None,
                 use_log_aspect=False, backend="cv2"):
        if progress_size is not None:
            raise ConfigError("RandCropImage.progress_size (progressive resizing) is not "
                              "supported; remove the key")
        check_resize_keys("RandCropImage", interpolation, backend)
        check_side("RandCropImage", "size", size)
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


OPS = dict(_infer.INFER_OPS, RandCropImage=RandCropImage, RandFlipImage=_wheel.RandFlipImage,
           TimmAutoAugment=TimmAutoAugment, RandomErasing=RandomErasing)


def is_channel_first(ops):
    """Whether ``ops`` (built by ``create_operators``) end with a CHW array; if not, the
    dataset transposes the HWC result, as PaddleClas's ``CommonDataset`` always does."""
    chw = False
    for op in ops:
        if isinstance(op, DecodeImage):
            chw = bool(op.channel_first)
        elif isinstance(op, _infer.ToCHWImage):
            chw = True
    return chw


def create_operators(op_list, registry=None, where="transform_ops"):
    """PaddleClas ``transform_ops`` list ``[{OpName: {key: value}}, ...]`` -> callables."""
    return _infer.create_operators(op_list, OPS if registry is None else registry, where)
