"""The UCI handwritten digits (shipped inside scikit-learn) in PaddleClas's dataset layout.

1,797 8x8 grayscale images of 10 classes, no download. Written as 8-bit grayscale PNGs (values
0..16 scaled to 0..255) with a deterministic stratified split:

    <out>/images/{train,val}/<index>_<label>.png
    <out>/train_list.txt, <out>/val_list.txt   (paths relative to <out>)
    <out>/label_list.txt                        ("<id> <name>", PaddleClas class_id_map_file)

Idempotent: a second run rewrites nothing that is already right, and removes images of an
earlier, different split. Only numpy, PIL and scikit-learn are imported (tools/prepare_digits.py
loads this file without importing Paddle).
"""
import io
import os
import re

import numpy as np
from PIL import Image
from ...validation import ConfigError

CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_IMAGE_NAME = re.compile(r"^\d{4}_\d\.png$")


def stratified_split(labels, val_fraction, seed):
    """Per class, a seeded shuffle puts round(n * val_fraction) images in val -> (train, val)
    index lists, each in ascending order."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.RandomState(seed)
    val = set()
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        val.update(idx[:int(round(len(idx) * val_fraction))].tolist())
    return [i for i in range(len(labels)) if i not in val], sorted(val)


def _write_if_changed(path, data):
    """Write bytes atomically (temp file + rename), only when the file differs."""
    if os.path.isfile(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return True


def _png(pixels):
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def load_digits_uint8():
    """scikit-learn's digits -> (uint8 images [N, 8, 8] in 0..255, int64 labels [N])."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return images, digits.target.astype(np.int64)


def prepare_digits(out_dir="dataset/digits", val_fraction=0.2, seed=0):
    """Write the dataset under ``out_dir``; returns counts (train, val, classes, written)."""
    images, labels = load_digits_uint8()
    train, val = stratified_split(labels, val_fraction, seed)
    written = 0
    for split, indices in (("train", train), ("val", val)):
        folder = os.path.join(out_dir, "images", split)
        os.makedirs(folder, exist_ok=True)
        names = {f"{i:04d}_{labels[i]}.png": i for i in indices}
        for name in os.listdir(folder):  # images of an earlier split with other settings
            if _IMAGE_NAME.match(name) and name not in names:
                os.remove(os.path.join(folder, name))
        for name, i in names.items():
            written += _write_if_changed(os.path.join(folder, name), _png(images[i]))
        lines = "".join(f"images/{split}/{name} {labels[i]}\n" for name, i in names.items())
        written += _write_if_changed(os.path.join(out_dir, f"{split}_list.txt"), lines.encode())
    names = "".join(f"{i} {name}\n" for i, name in enumerate(CLASS_NAMES))
    written += _write_if_changed(os.path.join(out_dir, "label_list.txt"), names.encode())
    return {"train": len(train), "val": len(val), "classes": len(CLASS_NAMES),
            "written": written}
