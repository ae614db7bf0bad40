"""Random erasing (Zhong et al. 2017) with PaddleClas's keys and timm's sampling.

Mirrors PaddleClas's ``RandomErasing`` op (keys ``EPSILON``, ``sl``, ``sh``, ``r1``,
``attempt``, ``use_log_aspect``, ``mode``, ``mean``) and timm's ``RandomErasing``: the
erased box covers ``uniform(sl, sh)`` of the area, its aspect ratio is sampled uniformly in
log space between ``r1`` and ``1/r1`` when ``use_log_aspect``, and ``mode='pixel'`` fills it
with per-pixel N(0, 1) values (the image is already normalised at that point).
"""
import math
import random

import numpy as np
from ....validation import ConfigError


def _number(value):
    # PaddleClas configs write fractions as strings such as "1.0/3.0".
    if isinstance(value, str):
        num, _, den = value.partition("/")
        return float(num) / float(den) if den else float(num)
    return float(value)


class RandomErasing:
    """Erase one random box of an HWC (or CHW, see ``channel_first``) float image."""

    def __init__(self, EPSILON=0.5, sl=0.02, sh=0.4, r1=0.3, mean=(0.0, 0.0, 0.0),
                 attempt=100, use_log_aspect=False, mode="const", channel_first=False):
        self.prob = _number(EPSILON)
        self.sl, self.sh = _number(sl), _number(sh)
        r1 = _number(r1)
        if not (0.0 <= self.prob <= 1.0 and 0.0 < self.sl <= self.sh <= 1.0 and r1 > 0):
            raise ConfigError(f"need 0 <= EPSILON <= 1, 0 < sl <= sh <= 1, r1 > 0; got "
                              f"EPSILON={self.prob}, sl={self.sl}, sh={self.sh}, r1={r1}")
        if mode not in ("const", "rand", "pixel"):
            raise ConfigError(
                f"RandomErasing.mode must be 'const', 'rand' or 'pixel', got {mode!r}")
        lo, hi = sorted((r1, 1.0 / r1))
        self.use_log_aspect = use_log_aspect
        self.aspect_range = (math.log(lo), math.log(hi)) if use_log_aspect else (lo, hi)
        self.attempt, self.mode, self.channel_first = int(attempt), mode, channel_first
        self.mean = np.asarray(mean, dtype=np.float32)

    def _fill(self, h, w, c, dtype):
        if self.mode == "pixel":
            return np.random.normal(size=(h, w, c)).astype(dtype)
        if self.mode == "rand":
            return np.random.normal(size=(1, 1, c)).astype(dtype)
        return np.broadcast_to(self.mean[:c].reshape(1, 1, -1), (h, w, c)).astype(dtype)

    def __call__(self, img):
        if random.random() >= self.prob:
            return img
        view = img.transpose((1, 2, 0)) if self.channel_first else img
        img_h, img_w, channels = view.shape
        area = img_h * img_w
        for _ in range(self.attempt):
            target = random.uniform(self.sl, self.sh) * area
            aspect = random.uniform(*self.aspect_range)
            if self.use_log_aspect:
                aspect = math.exp(aspect)
            h = int(round(math.sqrt(target * aspect)))
            w = int(round(math.sqrt(target / aspect)))
            if 0 < h < img_h and 0 < w < img_w:
                top, left = random.randint(0, img_h - h), random.randint(0, img_w - w)
                view = np.array(view, copy=True)
                view[top:top + h, left:left + w, :] = self._fill(h, w, channels, view.dtype)
                return view.transpose((2, 0, 1)) if self.channel_first else view
        return img
