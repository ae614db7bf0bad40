"""RandAugment as timm's ``rand-m9-mstd0.5-inc1`` config strings define it.

Mirrors timm's ``rand_augment_transform`` (and PaddleClas's ``TimmAutoAugment`` wrapper,
which takes ``config_str``, ``interpolation``, ``img_size``, ``mean``): per image, ``n``
ops drawn with replacement from the 15 "increasing" ops, each applied with probability 0.5
at a magnitude sampled from N(m, mstd) clipped to [0, mmax]; geometric ops fill with the
dataset mean and resample with the configured interpolation. Only the RandAugment family
is implemented ("rand-..."); AutoAugment/AugMix policies raise a clear error.
"""
import random

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

_MAX_LEVEL = 10.0
_INTERP = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}


def _signed(value):
    return -value if random.random() < 0.5 else value


def _affine(img, matrix, hp):
    return img.transform(img.size, Image.AFFINE, matrix, resample=hp["resample"],
                         fillcolor=hp["fill"])


def _solarize_add(img, add):
    lut = [min(255, i + add) if i < 128 else i for i in range(256)]
    return img.point(lut * (len(img.getbands())))


# name -> (apply(img, arg, hparams), level -> arg); levels are in [0, _MAX_LEVEL].
_OPS = {
    "AutoContrast": (lambda img, _, hp: ImageOps.autocontrast(img), None),
    "Equalize": (lambda img, _, hp: ImageOps.equalize(img), None),
    "Invert": (lambda img, _, hp: ImageOps.invert(img), None),
    "Rotate": (lambda img, deg, hp: img.rotate(deg, resample=hp["resample"],
                                               fillcolor=hp["fill"]),
               lambda lv, hp: _signed(lv / _MAX_LEVEL * 30.0)),
    "PosterizeIncreasing": (lambda img, bits, hp: img if bits >= 8 else
                            ImageOps.posterize(img, max(bits, 1)),
                            lambda lv, hp: 4 - int(lv / _MAX_LEVEL * 4)),
    "SolarizeIncreasing": (lambda img, thr, hp: ImageOps.solarize(img, thr),
                           lambda lv, hp: 256 - int(lv / _MAX_LEVEL * 256)),
    "SolarizeAdd": (lambda img, add, hp: _solarize_add(img, add),
                    lambda lv, hp: int(lv / _MAX_LEVEL * 110)),
    "ColorIncreasing": (lambda img, f, hp: ImageEnhance.Color(img).enhance(f), None),
    "ContrastIncreasing": (lambda img, f, hp: ImageEnhance.Contrast(img).enhance(f), None),
    "BrightnessIncreasing": (lambda img, f, hp: ImageEnhance.Brightness(img).enhance(f), None),
    "SharpnessIncreasing": (lambda img, f, hp: ImageEnhance.Sharpness(img).enhance(f), None),
    "ShearX": (lambda img, s, hp: _affine(img, (1, s, 0, 0, 1, 0), hp),
               lambda lv, hp: _signed(lv / _MAX_LEVEL * 0.3)),
    "ShearY": (lambda img, s, hp: _affine(img, (1, 0, 0, s, 1, 0), hp),
               lambda lv, hp: _signed(lv / _MAX_LEVEL * 0.3)),
    "TranslateXRel": (lambda img, p, hp: _affine(img, (1, 0, p * img.size[0], 0, 1, 0), hp),
                      lambda lv, hp: _signed(lv / _MAX_LEVEL * hp["translate_pct"])),
    "TranslateYRel": (lambda img, p, hp: _affine(img, (1, 0, 0, 0, 1, p * img.size[1]), hp),
                      lambda lv, hp: _signed(lv / _MAX_LEVEL * hp["translate_pct"])),
}


def _enhance_increasing(level, hp):
    # 1.0 is identity; the magnitude moves the factor away from it in either direction.
    return 1.0 + _signed(level / _MAX_LEVEL * 0.9)


for _name in ("ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
              "SharpnessIncreasing"):
    _OPS[_name] = (_OPS[_name][0], _enhance_increasing)

RAND_INCREASING_OPS = tuple(_OPS)


def parse_rand_config(config_str):
    """``rand-m9-mstd0.5-inc1`` -> dict(magnitude, magnitude_std, magnitude_max, num_layers,
    prob, increasing)."""
    parts = config_str.split("-")
    if parts[0] != "rand":
        raise ValueError(f"TimmAutoAugment config_str {config_str!r}: only RandAugment strings "
                         "('rand-m9-mstd0.5-inc1') are supported")
    cfg = dict(magnitude=10.0, magnitude_std=0.0, magnitude_max=_MAX_LEVEL, num_layers=2,
               prob=0.5, increasing=False)
    keys = {"m": "magnitude", "mstd": "magnitude_std", "mmax": "magnitude_max",
            "n": "num_layers", "p": "prob", "inc": "increasing"}
    for part in parts[1:]:
        key = part.rstrip("0123456789.")
        if key not in keys or key == part:
            raise ValueError(f"TimmAutoAugment config_str {config_str!r}: bad part {part!r}; "
                             f"valid: {', '.join(k + '<number>' for k in keys)}")
        value = float(part[len(key):])
        cfg[keys[key]] = bool(value) if key == "inc" else int(value) if key == "n" else value
    if not cfg["increasing"]:
        raise ValueError(f"TimmAutoAugment config_str {config_str!r}: only the increasing op "
                         "set (inc1) is implemented, as the E-ConvNeXt/ConvNeXt recipe uses")
    return cfg


class TimmAutoAugment:
    """PaddleClas's ``TimmAutoAugment`` op: HWC uint8 array (or PIL image) in, same out."""

    def __init__(self, config_str="rand-m9-mstd0.5-inc1", interpolation="bicubic",
                 img_size=224, mean=(0.485, 0.456, 0.406)):
        self.cfg = parse_rand_config(config_str)
        if interpolation not in _INTERP and interpolation != "random":
            raise ValueError(f"TimmAutoAugment.interpolation must be one of "
                             f"{sorted(_INTERP) + ['random']}, got {interpolation!r}")
        self.interpolation = interpolation
        fill = tuple(min(255, round(255 * x)) for x in mean)
        self.hparams = dict(fill=fill, translate_pct=0.45, resample=_INTERP.get(interpolation))

    def _magnitude(self):
        m, std = self.cfg["magnitude"], self.cfg["magnitude_std"]
        if std == float("inf"):
            m = random.uniform(0, m)
        elif std > 0:
            m = random.gauss(m, std)
        return min(max(0.0, m), self.cfg["magnitude_max"])

    def __call__(self, img):
        as_array = isinstance(img, np.ndarray)
        pil = Image.fromarray(np.ascontiguousarray(img)) if as_array else img
        hp = dict(self.hparams)
        for name in random.choices(RAND_INCREASING_OPS, k=self.cfg["num_layers"]):
            if random.random() > self.cfg["prob"]:
                continue
            if self.interpolation == "random":
                hp["resample"] = random.choice((Image.BILINEAR, Image.BICUBIC))
            apply, to_arg = _OPS[name]
            arg = to_arg(self._magnitude(), hp) if to_arg else None
            pil = apply(pil, arg, hp)
        return np.asarray(pil) if as_array else pil
