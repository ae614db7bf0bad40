"""PaddleClas's inference preprocessing ops, without Paddle: decode, resize, crop, normalise, CHW.

Same names, keys and arithmetic as the paddleclas wheel's ``deploy/python/preprocess.py``
(``DecodeImage``, ``ResizeImage`` through ``UnifiedResize``, ``CropImage``,
``NormalizeImage``, ``ToCHWImage``); tests compare the outputs with the wheel's ops pixel for
pixel. Differences, all on purpose: decoding goes through PIL (decode.py: EXIF, CMYK, 16-bit,
truncated files), bad keys raise a ValueError naming the key and the valid values, a
``NormalizeImage.scale`` string such as ``"1.0/255.0"`` is parsed instead of ``eval``-ed,
and OpenCV is imported only when a ``backend: cv2`` resize needs it.

Sizes are bounded: ``ResizeImage``/``CropImage`` sizes above ``MAX_SIDE`` pixels a side (an
``inference.yml`` asking ``size: 30000`` took 9 GB), and resizes whose output would exceed
``MAX_SIDE`` a side (``resize_short`` of a 20000x1 strip), are refused with a ValueError.
"""
import random

import numpy as np
from PIL import Image

from .decode import decode_image
from .factory import build_op, split_entry
from .cli import InvalidValueError

# Largest side a resize or crop may produce; classification inputs are a few hundred pixels.
MAX_SIDE = 8192
_BACKENDS = ("cv2", "pil")
_INTERPOLATIONS = {"cv2": ("nearest", "bilinear", "area", "bicubic", "lanczos", "random"),
                   "pil": ("nearest", "bilinear", "bicubic", "box", "lanczos", "hamming", "random")}
_PIL_FLAGS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
              "box": Image.BOX, "lanczos": Image.LANCZOS, "hamming": Image.HAMMING,
              "random": (Image.BILINEAR, Image.BICUBIC)}


def check_resize_keys(op_name, interpolation, backend):
    """The wheel's ``UnifiedResize`` fails obscurely (NameError, KeyError) on a bad backend or
    interpolation name: name the key and the valid values instead."""
    if not isinstance(backend, str) or backend.lower() not in _BACKENDS:
        raise InvalidValueError(
            f"{op_name}.backend must be one of {list(_BACKENDS)}, got {backend!r}")
    valid = _INTERPOLATIONS[backend.lower()]
    if interpolation is not None and (not isinstance(interpolation, str)
                                      or interpolation.lower() not in valid):
        raise InvalidValueError(
            f"{op_name}.interpolation {interpolation!r} is not valid for backend "
            f"{backend!r}; valid: {list(valid)}")


def check_side(op_name, key, value):
    """``value``: an int or [w, h]; each a positive int <= MAX_SIDE, else a ValueError."""
    sides = [value] if not isinstance(value, (list, tuple)) else list(value)
    if len(sides) not in (1, 2) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE
            for v in sides):
        raise InvalidValueError(f"{op_name}.{key} must be a positive integer or [w, h] of at most "
                                f"{MAX_SIDE} pixels a side, got {value!r}")
    return value


def _import_cv2(op_name):
    try:
        import cv2
    except ImportError as exc:
        raise ImportError(f"{op_name} with backend cv2 needs OpenCV (pip install "
                          "opencv-python-headless), or set backend: pil") from exc
    return cv2


class Resize:
    """``resize(img, (w, h))`` with the wheel's ``UnifiedResize`` semantics: cv2 (default
    bilinear) or PIL (default bilinear); ``random`` picks bilinear or bicubic per call."""

    def __init__(self, interpolation=None, backend="cv2", op_name="ResizeImage"):
        check_resize_keys(op_name, interpolation, backend)
        self.backend = backend.lower()
        name = (interpolation or "bilinear").lower()
        if self.backend == "cv2":
            cv2 = _import_cv2(op_name)
            self.flag = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR,
                         "area": cv2.INTER_AREA, "bicubic": cv2.INTER_CUBIC,
                         "lanczos": cv2.INTER_LANCZOS4,
                         "random": (cv2.INTER_LINEAR, cv2.INTER_CUBIC)}[name]
            self._cv2 = cv2
        else:
            self.flag = _PIL_FLAGS[name]

    def __call__(self, img, size):
        flag = random.choice(self.flag) if isinstance(self.flag, tuple) else self.flag
        size = tuple(size)
        if self.backend == "cv2":
            return self._cv2.resize(img, size, interpolation=flag)
        pil = Image.fromarray(img) if isinstance(img, np.ndarray) else img
        return np.asarray(pil.resize(size, flag))


class DecodeImage:
    """Bytes -> HWC uint8 array, RGB (``to_rgb``) or BGR, optionally CHW (``channel_first``).

    PaddleClas's keys; decoding goes through PIL (decode.py) whatever ``backend`` says. For
    ordinary 8-bit JPEG/PNG files the pixels equal the wheel's cv2 decoding (tested).
    ``to_np: False`` (a PIL image in PaddleClas) also yields an array: every op here accepts
    arrays.
    """

    def __init__(self, to_rgb=True, to_np=True, channel_first=False, backend="cv2"):
        if not isinstance(backend, str) or backend.lower() not in _BACKENDS:
            raise InvalidValueError(f"DecodeImage.backend must be one of {list(_BACKENDS)}, "
                                    f"got {backend!r}")
        self.to_rgb, self.to_np, self.channel_first = to_rgb, to_np, channel_first

    def __call__(self, data, source="<bytes>"):
        img = decode_image(data, source)
        if not self.to_rgb:
            img = np.ascontiguousarray(img[:, :, ::-1])
        if self.channel_first:
            img = img.transpose((2, 0, 1))
        return img


class ResizeImage:
    """Resize to ``size`` (int or [w, h]) or the shorter side to ``resize_short``."""

    def __init__(self, size=None, resize_short=None, interpolation=None, backend="cv2",
                 return_numpy=True):
        if resize_short is not None and resize_short > 0:
            check_side("ResizeImage", "resize_short", resize_short)
            self.resize_short, self.w, self.h = resize_short, None, None
        elif size is not None:
            check_side("ResizeImage", "size", size)
            self.resize_short = None
            self.w, self.h = (size, size) if isinstance(size, int) else (size[0], size[1])
        else:
            raise InvalidValueError("ResizeImage needs size or resize_short")
        self._resize_func = Resize(interpolation, backend, "ResizeImage")

    def __call__(self, img):
        img_h, img_w = img.shape[:2] if isinstance(img, np.ndarray) else img.size[::-1]
        if self.resize_short is not None:
            percent = float(self.resize_short) / min(img_w, img_h)
            w, h = int(round(img_w * percent)), int(round(img_h * percent))
            if max(w, h) > MAX_SIDE:
                raise InvalidValueError(f"ResizeImage resize_short={self.resize_short} of a "
                                        f"{img_w}x{img_h} image gives {w}x{h}, above {MAX_SIDE} "
                                        "pixels a side; refused")
        else:
            w, h = self.w, self.h
        return self._resize_func(img, (w, h))


class CropImage:
    """Center crop to ``size`` (int or [w, h]); an image smaller than the crop is an error
    naming both sizes."""

    def __init__(self, size):
        check_side("CropImage", "size", size)
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, img):
        w, h = self.size
        img_h, img_w = img.shape[:2]
        if img_h < h or img_w < w:
            raise InvalidValueError(f"CropImage size ({h}, {w}) is larger than the image "
                                    f"{(img_h, img_w)}; resize first (ResizeImage resize_short "
                                    f">= {max(h, w)}).")
        top, left = (img_h - h) // 2, (img_w - w) // 2
        return img[top:top + h, left:left + w, :]


def parse_scale(scale):
    """``NormalizeImage.scale``: a number, or a ``1.0/255.0``-style string (PaddleClas configs,
    inference.yml), read without ``eval``; None means 1/255. Raises InvalidValueError."""
    if scale is None:
        return 1.0 / 255.0
    if isinstance(scale, str):
        num, _, den = scale.partition("/")
        try:
            return float(num) / (float(den) if den else 1.0)
        except (ValueError, ZeroDivisionError):
            raise InvalidValueError(f"NormalizeImage.scale {scale!r} is not a number or a "
                                    "fraction such as '1.0/255.0'") from None
    return float(scale)


class NormalizeImage:
    """``(img * scale - mean) / std`` in float32, ``order`` 'chw' or '' (HWC);
    ``channel_num: 4`` appends a zero channel, as the wheel's op does."""

    def __init__(self, scale=None, mean=None, std=None, order="chw", output_fp16=False,
                 channel_num=3):
        if channel_num not in (3, 4):
            raise InvalidValueError(
                f"NormalizeImage.channel_num must be 3 or 4, got {channel_num!r}")
        self.channel_num = channel_num
        self.output_dtype = "float16" if output_fp16 else "float32"
        self.scale = np.float32(parse_scale(scale))
        self.order = order
        shape = (3, 1, 1) if order == "chw" else (1, 1, 3)
        self.mean = np.array(mean if mean is not None else [0.485, 0.456, 0.406]
                             ).reshape(shape).astype("float32")
        self.std = np.array(std if std is not None else [0.229, 0.224, 0.225]
                            ).reshape(shape).astype("float32")

    def __call__(self, img):
        img = (np.asarray(img).astype("float32") * self.scale - self.mean) / self.std
        if self.channel_num == 4:
            axis = 0 if self.order == "chw" else 2
            pad = list(img.shape)
            pad[axis] = 1
            img = np.concatenate((img, np.zeros(pad)), axis=axis)
        return img.astype(self.output_dtype)


class ToCHWImage:
    """HWC -> CHW."""

    def __call__(self, img):
        return np.asarray(img).transpose((2, 0, 1))


INFER_OPS = {"DecodeImage": DecodeImage, "ResizeImage": ResizeImage, "CropImage": CropImage,
             "NormalizeImage": NormalizeImage, "ToCHWImage": ToCHWImage}

_OP_EXAMPLE = "- ResizeImage: {resize_short: 256}"


def create_operators(op_list, registry=None, where="transform_ops"):
    """PaddleClas ``transform_ops`` list ``[{OpName: {key: value}}, ...]`` -> callables."""
    registry = INFER_OPS if registry is None else registry
    if op_list is None:
        return []
    if not isinstance(op_list, (list, tuple)):
        raise InvalidValueError(f"{where} must be a list of ops, got {type(op_list).__name__}")
    return [build_op(*split_entry(entry, where, "op", _OP_EXAMPLE), registry, where)
            for entry in op_list]


def preprocess_file(ops, path):
    """Read ``path`` and run ``ops`` on it; without a ``DecodeImage`` op first, the bytes are
    decoded to RGB (PaddleClas's deploy configs start at the resize)."""
    with open(path, "rb") as f:
        img = f.read()
    if not ops or not isinstance(ops[0], DecodeImage):
        img = decode_image(img, path)
    for op in ops:
        img = op(img, path) if isinstance(op, DecodeImage) else op(img)
    return img
