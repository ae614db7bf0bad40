"""RandAugment as timm's config strings (``rand-m9-mstd0.5-inc1``) define it.

Mirrors timm's ``rand_augment_transform`` and PaddleClas's ``TimmAutoAugment`` wrapper (keys
``config_str``, ``interpolation``, ``img_size``, ``mean``, ``prob``): per image, ``n`` ops are
drawn with replacement from the 15 RandAugment ops ("increasing" variants with ``inc1``),
each applied with probability ``p`` (0.5) at a magnitude drawn from N(m, mstd) clipped to
[0, mmax]; geometric ops fill with the dataset mean and resample with the configured
interpolation. Only the RandAugment family is implemented ("rand-..."); AutoAugment and AugMix
strings raise a clear error.
"""
import math
import random

import numpy as np
from PIL import Image, ImageEnhance, ImageOps
from ....validation import ConfigError

_MAX_LEVEL = 10.0
_INTERP = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS,
           "hamming": Image.HAMMING, "nearest": Image.NEAREST}
_RANDOM_INTERP = (Image.BILINEAR, Image.BICUBIC)


def _signed(value):
    return -value if random.random() < 0.5 else value


def _affine(img, matrix, hp):
    return img.transform(img.size, Image.AFFINE, matrix, resample=hp["resample"],
                         fillcolor=hp["fill"])


def _solarize_add(img, add):
    lut = [min(255, i + add) if i < 128 else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


def _posterize(img, bits):
    if bits >= 8:
        return img
    if bits <= 0:  # keep no bits: black. Pillow >= 10 refuses bits=0, old Pillow gave this.
        return Image.new(img.mode, img.size)
    return ImageOps.posterize(img, bits)


def _enhance(kind):
    return lambda img, factor, hp: kind(img).enhance(factor)


# Level (magnitude in [0, _MAX_LEVEL]) -> op argument, as in timm.
def _rotate_arg(lv, hp):
    return _signed(lv / _MAX_LEVEL * 30.0)


def _shear_arg(lv, hp):
    return _signed(lv / _MAX_LEVEL * 0.3)


def _translate_arg(lv, hp):
    return _signed(lv / _MAX_LEVEL * hp["translate_pct"])


def _enhance_arg(lv, hp):  # [0.1, 1.9], 1.0 (identity) at level 5
    return lv / _MAX_LEVEL * 1.8 + 0.1


def _enhance_increasing_arg(lv, hp):  # 1.0 at level 0, moving away from it either way
    return max(0.1, 1.0 + _signed(lv / _MAX_LEVEL * 0.9))


_OPS = {  # name -> (apply(img, arg, hparams), level -> arg or None)
    "AutoContrast": (lambda img, _, hp: ImageOps.autocontrast(img), None),
    "Equalize": (lambda img, _, hp: ImageOps.equalize(img), None),
    "Invert": (lambda img, _, hp: ImageOps.invert(img), None),
    "Rotate": (lambda img, deg, hp: img.rotate(deg, resample=hp["resample"],
                                               fillcolor=hp["fill"]), _rotate_arg),
    "Posterize": (lambda img, bits, hp: _posterize(img, bits),
                  lambda lv, hp: int(lv / _MAX_LEVEL * 4)),
    "PosterizeIncreasing": (lambda img, bits, hp: _posterize(img, bits),
                            lambda lv, hp: 4 - int(lv / _MAX_LEVEL * 4)),
    "Solarize": (lambda img, thr, hp: ImageOps.solarize(img, thr),
                 lambda lv, hp: int(lv / _MAX_LEVEL * 256)),
    "SolarizeIncreasing": (lambda img, thr, hp: ImageOps.solarize(img, thr),
                           lambda lv, hp: 256 - int(lv / _MAX_LEVEL * 256)),
    "SolarizeAdd": (lambda img, add, hp: _solarize_add(img, add),
                    lambda lv, hp: int(lv / _MAX_LEVEL * 110)),
    "ShearX": (lambda img, s, hp: _affine(img, (1, s, 0, 0, 1, 0), hp), _shear_arg),
    "ShearY": (lambda img, s, hp: _affine(img, (1, 0, 0, s, 1, 0), hp), _shear_arg),
    "TranslateXRel": (lambda img, p, hp: _affine(img, (1, 0, p * img.size[0], 0, 1, 0), hp),
                      _translate_arg),
    "TranslateYRel": (lambda img, p, hp: _affine(img, (1, 0, 0, 0, 1, p * img.size[1]), hp),
                      _translate_arg),
}
for _name, _kind in (("Color", ImageEnhance.Color), ("Contrast", ImageEnhance.Contrast),
                     ("Brightness", ImageEnhance.Brightness),
                     ("Sharpness", ImageEnhance.Sharpness)):
    _OPS[_name] = (_enhance(_kind), _enhance_arg)
    _OPS[_name + "Increasing"] = (_enhance(_kind), _enhance_increasing_arg)

_COMMON = ("SolarizeAdd", "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY",
           "TranslateXRel", "TranslateYRel")
RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize") + _COMMON
RAND_INCREASING_OPS = tuple(
    name + "Increasing" if name in ("Posterize", "Solarize", "Color", "Contrast", "Brightness",
                                    "Sharpness") else name for name in RAND_OPS)


def parse_rand_config(config_str):
    """``rand-m9-mstd0.5-inc1`` -> dict(magnitude, magnitude_std, magnitude_max, num_layers,
    prob, increasing), with timm's defaults (m10, n2, p0.5, mstd0, mmax10, inc0)."""
    parts = str(config_str).split("-")
    if parts[0] != "rand":
        raise ConfigError(f"TimmAutoAugment config_str {config_str!r}: only RandAugment strings "
                          "such as 'rand-m9-mstd0.5-inc1' are supported")
    cfg = dict(magnitude=_MAX_LEVEL, magnitude_std=0.0, magnitude_max=_MAX_LEVEL, num_layers=2,
               prob=0.5, increasing=False)
    keys = {"m": "magnitude", "mstd": "magnitude_std", "mmax": "magnitude_max",
            "n": "num_layers", "p": "prob", "inc": "increasing"}
    for part in parts[1:]:
        key = part.rstrip("0123456789.")
        try:
            value = float(part[len(key):])
        except ValueError:
            value = None
        if key not in keys or value is None:
            raise ConfigError(f"TimmAutoAugment config_str {config_str!r}: bad part {part!r}; "
                              f"valid: {', '.join(k + '<number>' for k in keys)}")
        if key == "mstd" and value > 100:  # timm: a huge std means "uniform in [0, m]"
            value = math.inf
        cfg[keys[key]] = bool(value) if key == "inc" else int(value) if key == "n" else value
    return cfg


class TimmAutoAugment:
    """PaddleClas's ``TimmAutoAugment`` op: HWC uint8 array (or PIL image) in, same type out.

    ``prob`` is PaddleClas's extra chance of applying RandAugment at all (default 1.0).
    """

    def __init__(self, config_str="rand-m9-mstd0.5-inc1", interpolation="bicubic",
                 img_size=224, mean=(0.485, 0.456, 0.406), prob=1.0):
        self.cfg = parse_rand_config(config_str)
        self.op_names = RAND_INCREASING_OPS if self.cfg["increasing"] else RAND_OPS
        if interpolation and interpolation != "random" and interpolation not in _INTERP:
            raise ConfigError(f"TimmAutoAugment.interpolation must be one of "
                              f"{sorted(_INTERP) + ['random']}, got {interpolation!r}")
        if not 0.0 <= float(prob) <= 1.0:
            raise ConfigError(f"TimmAutoAugment.prob must be in [0, 1], got {prob}")
        self.prob = float(prob)
        fill = tuple(min(255, round(255 * x)) for x in mean)
        # img_size is kept for PaddleClas's signature: only absolute translations used it.
        self.img_size = img_size
        self.resample = _INTERP.get(interpolation) if interpolation else None
        self.hparams = dict(fill=fill, translate_pct=0.45)

    def _magnitude(self):
        m, std = self.cfg["magnitude"], self.cfg["magnitude_std"]
        if std == math.inf:
            m = random.uniform(0, m)
        elif std > 0:
            m = random.gauss(m, std)
        return min(max(0.0, m), self.cfg["magnitude_max"])

    def augment(self, pil):
        """Apply RandAugment to a PIL image."""
        hp = dict(self.hparams)
        for name in random.choices(self.op_names, k=self.cfg["num_layers"]):
            if self.cfg["prob"] < 1.0 and random.random() > self.cfg["prob"]:
                continue
            # 'random' (or no) interpolation: timm draws bilinear/bicubic per op call.
            hp["resample"] = self.resample or random.choice(_RANDOM_INTERP)
            apply, to_arg = _OPS[name]
            pil = apply(pil, to_arg(self._magnitude(), hp) if to_arg else None, hp)
        return pil

    def __call__(self, img):
        if self.prob < 1.0 and random.random() >= self.prob:
            return img
        as_array = isinstance(img, np.ndarray)
        pil = Image.fromarray(np.ascontiguousarray(img)) if as_array else img
        pil = self.augment(pil)
        return np.asarray(pil) if as_array else pil
