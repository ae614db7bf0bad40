"""A small detection data set composed offline from scikit-learn's digits, in COCO format.

Each scene is a black square canvas with a few digits of different sizes pasted at random,
non-overlapping places. The source digits are the 8x8 images of ``ppcls_ext/engine/data/digits.py``,
upsampled bicubically (as the classification quick start does), so the boxes are known
exactly: a box is the ink of the source digit (pixels >= ``INK_THRESHOLD``) scaled to the
pasted size. Train and val scenes draw from disjoint digit images: the same stratified split
(same seed) as the classification quick start, so a backbone initialised from that
classifier has never seen a val digit.

    <out>/images/{train,val}/<5-digit id>.png          8-bit grayscale
    <out>/annotations/instances_{train,val}.json      COCO: categories 1..10 named "0".."9"
    <out>/label_list.txt                              one class name a line

Deterministic for a seed and idempotent: a second run rewrites nothing that is already right
and removes scenes of an earlier, larger set. Only numpy, PIL and scikit-learn are used, so
tools/det/prepare_digits_det.py imports this module without importing Paddle.
"""
import json
import os
import re

import numpy as np
from PIL import Image

from ..engine.data import digits as _digits
from ..validation import ConfigError

CLASS_NAMES = tuple(str(i) for i in range(10))
INK_THRESHOLD = 64  # of 255 (4 of the source's 16 levels): fainter pixels are not "ink"
_SCENE_NAME = re.compile(r"^\d{5}\.png$")

# Defaults used by tools/det/quick_start.sh (configs/detection/quick_start/ reads this layout).
DEFAULTS = dict(train_scenes=600, val_scenes=150, image_size=128, min_digits=2, max_digits=6,
                min_size=20, max_size=44, val_fraction=0.2, seed=0)

# Named generator settings (``prepare_digits_det(preset=...)``, ``--preset``): the quick-start
# recipes are tuned on "default" and judged on the others too. Sizes are canvas pixels; the
# recipes resize every canvas to their fixed input size, so what changes for the detector is
# the digits' size relative to the canvas, how many there are, and the boxes per epoch.
PRESETS = {
    "default": {},                                    # 128 px canvas, 2-6 digits of 20-44 px
    "large": dict(image_size=256, min_digits=1, max_digits=3,
                  min_size=64, max_size=160),         # fewer, larger digits, larger canvas
    "dense": dict(image_size=192, min_digits=5, max_digits=12,
                  min_size=20, max_size=40),          # many small digits (relative size)
    "mixed": dict(image_size=192, min_digits=1, max_digits=8,
                  min_size=16, max_size=96),          # a wide range of sizes
}


def preset_settings(preset="default", **overrides):
    """DEFAULTS updated by ``PRESETS[preset]`` and then by ``overrides``.

    Raises ValueError naming the valid presets, TypeError naming the valid setting keys."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
    return dict(DEFAULTS, **PRESETS[preset], **overrides)


def ink_box(digit, x, y, size):
    """COCO box [x, y, w, h] of ``digit`` (8x8 uint8) pasted at (x, y) as a size x size patch."""
    rows = np.flatnonzero((digit >= INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((digit >= INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        return None
    scale = size / float(digit.shape[0])
    x0, y0 = x + cols[0] * scale, y + rows[0] * scale
    w, h = (cols[-1] + 1 - cols[0]) * scale, (rows[-1] + 1 - rows[0]) * scale
    return [round(float(v), 3) for v in (x0, y0, w, h)]


def _upsample(digit, size):
    return np.asarray(Image.fromarray(digit).resize((size, size), Image.BICUBIC))


def compose_scene(rng, images, labels, pool, image_size, min_digits, max_digits, min_size,
                  max_size, gap=2, tries=50):
    """One canvas and its objects [(label, box)]; digits drawn from ``pool`` (indices).

    Patches never overlap (``gap`` pixels apart): a digit that finds no free place after
    ``tries`` positions is left out, so a crowded scene may hold fewer than drawn."""
    canvas = np.zeros((image_size, image_size), np.uint8)
    placed, objects = [], []
    for _ in range(rng.randint(min_digits, max_digits + 1)):
        size = int(rng.randint(min_size, max_size + 1))
        index = int(pool[rng.randint(len(pool))])
        for _ in range(tries):
            x = int(rng.randint(0, image_size - size + 1))
            y = int(rng.randint(0, image_size - size + 1))
            if all(x + size + gap <= px or px + ps + gap <= x or
                   y + size + gap <= py or py + ps + gap <= y for px, py, ps in placed):
                break
        else:
            continue
        box = ink_box(images[index], x, y, size)
        if box is None:
            continue
        placed.append((x, y, size))
        region = canvas[y:y + size, x:x + size]
        np.maximum(region, _upsample(images[index], size), out=region)
        objects.append((int(labels[index]), box))
    return canvas, objects


def _coco(split, scenes, image_size):
    images, annotations = [], []
    for image_id, objects in enumerate(scenes, start=1):
        images.append({"id": image_id, "file_name": f"{image_id - 1:05d}.png",
                       "width": image_size, "height": image_size})
        for label, box in objects:
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": label + 1, "bbox": box,
                                "area": round(box[2] * box[3], 3), "iscrowd": 0})
    categories = [{"id": i + 1, "name": name, "supercategory": "digit"}
                  for i, name in enumerate(CLASS_NAMES)]
    return {"info": {"description": f"digits_det {split}: scenes of scikit-learn digits"},
            "images": images, "annotations": annotations, "categories": categories}


def prepare_digits_det(out_dir="dataset/digits_det", preset="default", **settings):
    """Write the data set under ``out_dir``: ``PRESETS[preset]`` (see ``preset_settings``),
    then ``settings`` (the keys of ``DEFAULTS``); returns
    {"train": scenes, "val": scenes, "train_boxes", "val_boxes", "written": files}."""
    s = preset_settings(preset, **settings)
    if not 1 <= s["min_digits"] <= s["max_digits"]:
        raise ConfigError(f"need 1 <= min_digits <= max_digits, got {s['min_digits']}, "
                          f"{s['max_digits']}")
    if not 8 <= s["min_size"] <= s["max_size"] <= s["image_size"]:
        raise ConfigError(f"need 8 <= min_size <= max_size <= image_size, got {s['min_size']}, "
                          f"{s['max_size']}, {s['image_size']}")
    images, labels = _digits.load_digits_uint8()
    pools = dict(zip(("train", "val"),
                     _digits.stratified_split(labels, s["val_fraction"], s["seed"])))
    counts, written = {}, 0
    os.makedirs(os.path.join(out_dir, "annotations"), exist_ok=True)
    for offset, split in enumerate(("train", "val")):
        rng = np.random.RandomState(s["seed"] * 1000 + offset)  # one stream per split
        folder = os.path.join(out_dir, "images", split)
        os.makedirs(folder, exist_ok=True)
        scenes = []
        for i in range(s[f"{split}_scenes"]):
            canvas, objects = compose_scene(rng, images, labels, pools[split], s["image_size"],
                                            s["min_digits"], s["max_digits"], s["min_size"],
                                            s["max_size"])
            written += _digits._write_if_changed(os.path.join(folder, f"{i:05d}.png"),
                                                 _digits._png(canvas))
            scenes.append(objects)
        keep = {f"{i:05d}.png" for i in range(len(scenes))}
        for name in os.listdir(folder):  # scenes of an earlier, larger set
            if _SCENE_NAME.match(name) and name not in keep:
                os.remove(os.path.join(folder, name))
        coco = json.dumps(_coco(split, scenes, s["image_size"]), separators=(",", ":"))
        written += _digits._write_if_changed(
            os.path.join(out_dir, "annotations", f"instances_{split}.json"), coco.encode())
        counts[split], counts[f"{split}_boxes"] = len(scenes), sum(map(len, scenes))
    written += _digits._write_if_changed(os.path.join(out_dir, "label_list.txt"),
                                         "".join(f"{n}\n" for n in CLASS_NAMES).encode())
    counts["written"] = written
    return counts
