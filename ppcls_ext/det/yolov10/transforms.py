"""``RandomHSV``: the YOLO colour augmentation, registered as a PaddleDetection sample transform.

Each image gets one random gain per HSV channel, ``1 + uniform(-1, 1) * gain`` with gains
(hue 0.015, saturation 0.7, value 0.4) by default (the YOLOv5/YOLOv8/YOLOv10 recipe; the
E-ConvNeXt authors' YOLOv10 configs use the same). Hue wraps around (OpenCV's 0..179 range),
saturation and value are clipped to 0..255. Applied with 256-entry look-up tables, so it is
cheap. Works on the RGB uint8 (or float 0..255) image PaddleDetection's ``Decode`` produces.
"""
import cv2
import numpy as np
from ppdet.data.transform.operators import BaseOperator
from ...validation import ConfigError

__all__ = ["RandomHSV"]


class RandomHSV(BaseOperator):
    """Random hue/saturation/value gains (config: ``- RandomHSV: {hgain: 0.015, sgain: 0.7,
    vgain: 0.4}``). ``sample['image']`` [H, W, 3] RGB keeps its shape and dtype."""

    def __init__(self, hgain=0.015, sgain=0.7, vgain=0.4, prob=1.0):
        super().__init__()
        for name, gain in (("hgain", hgain), ("sgain", sgain), ("vgain", vgain)):
            if not 0 <= gain <= 1:
                raise ConfigError(f"RandomHSV.{name} must be in [0, 1], got {gain}")
        self.gains = np.array([hgain, sgain, vgain], dtype=np.float64)
        self.prob = prob

    def apply(self, sample, context=None):
        if np.random.uniform() >= self.prob or not self.gains.any():
            return sample
        image = sample["image"]
        dtype = image.dtype
        rgb = np.clip(image, 0, 255).astype(np.uint8) if dtype != np.uint8 else image
        gains = np.random.uniform(-1, 1, 3) * self.gains + 1
        hue, sat, val = cv2.split(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV))
        ramp = np.arange(256, dtype=np.float64)
        lut_hue = ((ramp * gains[0]) % 180).astype(np.uint8)
        lut_sat = np.clip(ramp * gains[1], 0, 255).astype(np.uint8)
        lut_val = np.clip(ramp * gains[2], 0, 255).astype(np.uint8)
        hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        sample["image"] = out if dtype == np.uint8 else out.astype(dtype)
        return sample

