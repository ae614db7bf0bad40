"""The preprocessing of a PaddleDetection export (``infer_cfg.yml``'s ``Preprocess``) with
numpy and OpenCV alone, so that the detection predictor runs without Paddle or ppdet.

Only the operators this project's detection exports write are implemented, each computing
what PaddleDetection's own operator computes (``ppdet.data.transform.operators`` 2.6, the
same numpy/cv2 calls in the same order; tests/test_infer_det_preprocess.py compares the
arrays):

* ``Resize`` {target_size, keep_ratio, interp}: ``cv2.resize`` by scale factors (fx, fy),
  keep_ratio scales the short side to min(target_size) capped by the long side at
  max(target_size); the image becomes float32; ``im_shape`` and ``scale_factor`` follow.
* ``NormalizeImage`` {mean, std, is_scale, norm_type}: /255 when ``is_scale``, then
  (x - mean) / std per channel (``norm_type: none`` skips that step).
* ``Permute``: HWC -> CHW.
* ``PadStride`` {stride}: zero-pad bottom/right to a multiple of ``stride`` (what
  PaddleDetection's export writes for a reader with ``PadBatch``; its deploy/python
  preprocess.py semantics).

PaddleDetection's exporter copies the TestReader's sample transforms after ``Decode``; the
shipped configs (configs/detection) use Resize, NormalizeImage and Permute. Any other
operator is refused by name (:func:`build_det_preprocess`).
"""
from numbers import Integral

import numpy as np

from .cli import InvalidValueError, UserError
from .factory import build_op


class Resize:
    def __init__(self, target_size, keep_ratio, interp=1):
        if isinstance(target_size, Integral):
            target_size = [target_size, target_size]
        if (not isinstance(target_size, (list, tuple)) or len(target_size) != 2
                or not all(isinstance(v, Integral) and v > 0 for v in target_size)):
            raise InvalidValueError(f"target_size must be a positive int or [height, width], got "
                                    f"{target_size!r}")
        if not isinstance(interp, Integral) or not 0 <= interp <= 4:
            raise InvalidValueError(
                f"interp must be an OpenCV interpolation code 0-4, got {interp!r}")
        self.target_size, self.keep_ratio, self.interp = list(target_size), keep_ratio, interp
        try:
            import cv2
        except ImportError as exc:
            raise UserError("infer_cfg.yml's Resize needs OpenCV, as PaddleDetection's: pip "
                            "install -r deploy/requirements.txt (opencv-python-headless)") from exc
        self.cv2 = cv2

    def __call__(self, sample):
        cv2 = self.cv2
        image = sample["image"]
        h, w = image.shape[:2]
        if self.keep_ratio:
            scale = min(min(self.target_size) / min(h, w), max(self.target_size) / max(h, w))
            resize_h, resize_w, scale_y, scale_x = scale * float(h), scale * float(w), scale, scale
        else:
            resize_h, resize_w = self.target_size
            scale_y, scale_x = resize_h / h, resize_w / w
        sample["image"] = cv2.resize(image, None, None, fx=scale_x, fy=scale_y,
                                     interpolation=self.interp).astype(np.float32)
        sample["im_shape"] = np.asarray([resize_h, resize_w], dtype=np.float32)
        factor = sample["scale_factor"]
        sample["scale_factor"] = np.asarray([factor[0] * scale_y, factor[1] * scale_x],
                                            dtype=np.float32)
        return sample


class NormalizeImage:
    def __init__(self, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), is_scale=True,
                 norm_type="mean_std"):
        if norm_type not in ("mean_std", "none"):
            raise InvalidValueError(f"norm_type must be mean_std or none, got {norm_type!r}")
        if len(mean) != 3 or len(std) != 3 or 0 in list(std):
            raise InvalidValueError(
                f"mean and std need 3 values each, std non-zero; got {mean}, {std}")
        self.mean, self.std = np.array(mean)[None, None, :], np.array(std)[None, None, :]
        self.is_scale, self.norm_type = bool(is_scale), norm_type

    def __call__(self, sample):
        image = sample["image"].astype(np.float32, copy=False)
        if self.is_scale:
            image *= 1.0 / 255.0
        if self.norm_type == "mean_std":
            image -= self.mean  # float64 mean into the float32 image, as ppdet does
            image /= self.std
        sample["image"] = image
        return sample


class Permute:
    def __call__(self, sample):
        sample["image"] = sample["image"].transpose((2, 0, 1))
        return sample


class PadStride:
    def __init__(self, stride=0):
        if not isinstance(stride, Integral) or stride < 0:
            raise InvalidValueError(f"stride must be a non-negative int, got {stride!r}")
        self.stride = stride

    def __call__(self, sample):
        if self.stride <= 0:
            return sample
        image = sample["image"]
        c, h, w = image.shape
        ph, pw = -(-h // self.stride) * self.stride, -(-w // self.stride) * self.stride
        padded = np.zeros((c, ph, pw), np.float32)
        padded[:, :h, :w] = image
        sample["image"] = padded
        return sample


OPERATORS = {"Resize": Resize, "NormalizeImage": NormalizeImage, "Permute": Permute,
             "PadStride": PadStride}


def build_det_preprocess(steps, where="infer_cfg.yml Preprocess"):
    """infer_cfg.yml's ``Preprocess`` list (``[{type: Resize, target_size: ...}, ...]``) ->
    the operators, each a callable on a sample dict ``{"image", "im_shape",
    "scale_factor"}``.

    Raises:
        ValueError: a step that is not a mapping with ``type``, an operator not in
            ``OPERATORS`` (one line naming it and the supported ones), or a bad key/value.
    """
    if not isinstance(steps, list):
        raise InvalidValueError(f"{where} must be a list of steps, got {type(steps).__name__}")
    ops = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or "type" not in step:
            raise InvalidValueError(
                f"{where}[{i}] must be a mapping with a 'type' key, got {step!r}")
        kwargs = dict(step)
        name = kwargs.pop("type")
        if name not in OPERATORS:
            raise InvalidValueError(f"{where} step {name!r} is not supported by this predictor; "
                                    f"supported: {', '.join(OPERATORS)} (the operators this "
                                    "project's detection exports write)")
        ops.append(build_op(name, kwargs, OPERATORS, where))
    return ops


def preprocess_image(ops, image):
    """``image`` (HxWx3 uint8 RGB, as ``ppcls_infer.decode`` returns) through ``ops`` -> the
    feed of a PaddleDetection export: ``{"image": [1, 3, H, W] float32, "im_shape": [1, 2],
    "scale_factor": [1, 2]}`` (float32; scale_factor = resized / original size, (y, x))."""
    sample = {"image": image, "im_shape": np.array(image.shape[:2], np.float32),
              "scale_factor": np.array([1.0, 1.0], np.float32)}
    for op in ops:
        sample = op(sample)
    return {"image": np.ascontiguousarray(sample["image"][None], dtype=np.float32),
            "im_shape": np.asarray(sample["im_shape"], np.float32)[None],
            "scale_factor": np.asarray(sample["scale_factor"], np.float32)[None]}
