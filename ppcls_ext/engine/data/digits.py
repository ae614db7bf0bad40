"""The UCI handwritten digits (shipped inside scikit-learn) in PaddleClas's dataset layout.

1,797 8x8 grayscale images of 10 classes, no download. Written as 8-bit PNGs (values 0..16
scaled to 0..255) with a deterministic stratified split:

    <out>/images/{train,val}/<index>_<label>.png
    <out>/train_list.txt, <out>/val_list.txt   (paths relative to <out>)
    <out>/label_list.txt                        ("<id> <name>", PaddleClas class_id_map_file)
"""
import os

import numpy as np
from PIL import Image

CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _stratified_split(labels, val_fraction, seed):
    rng = np.random.RandomState(seed)
    val = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        val.extend(idx[:int(round(len(idx) * val_fraction))].tolist())
    val = set(val)
    return [i for i in range(len(labels)) if i not in val], sorted(val)


def _write_atomically(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def prepare_digits(out_dir="dataset/digits", val_fraction=0.2, seed=0):
    """Write the dataset (idempotent: existing identical images are kept). Returns counts."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * (255.0 / 16.0) + 0.5, 0, 255).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    train, val = _stratified_split(labels, val_fraction, seed)
    for split, indices in (("train", train), ("val", val)):
        folder = os.path.join(out_dir, "images", split)
        os.makedirs(folder, exist_ok=True)
        lines = []
        for i in indices:
            rel = f"images/{split}/{i:04d}_{labels[i]}.png"
            path = os.path.join(out_dir, rel)
            if not os.path.isfile(path):
                Image.fromarray(images[i], mode="L").save(path + ".tmp.png")
                os.replace(path + ".tmp.png", path)
            lines.append(f"{rel} {labels[i]}")
        _write_atomically(os.path.join(out_dir, f"{split}_list.txt"), lines)
    _write_atomically(os.path.join(out_dir, "label_list.txt"),
                      [f"{i} {name}" for i, name in enumerate(CLASS_NAMES)])
    return {"train": len(train), "val": len(val), "classes": len(CLASS_NAMES)}
