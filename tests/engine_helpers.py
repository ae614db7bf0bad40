"""Helpers shared by the engine tests: tiny datasets and configs."""
import copy
import os

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK_START = os.path.join(ROOT, "configs", "quick_start", "EConvNeXt_mini_digits.yaml")
IMAGENET = {v: os.path.join(ROOT, "configs", "ImageNet", "EConvNeXt", f"EConvNeXt_{v}.yaml")
            for v in ("mini", "tiny", "small")}


def make_split(root, n, classes=3, size=(12, 12), name="train_list.txt"):
    """``n`` random images, labels cycling over ``classes``, in PaddleClas list layout."""
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    rng = np.random.RandomState(len(name) + n)
    lines = []
    for i in range(n):
        label = i % classes
        # class-dependent brightness so that a few steps can learn something
        arr = np.clip(rng.normal(60 + 70 * label, 20, (size[1], size[0], 3)), 0, 255)
        path = f"img/{name[:-4]}_{i}.png"
        Image.fromarray(arr.astype(np.uint8)).save(os.path.join(root, path))
        lines.append(f"{path} {label}")
    with open(os.path.join(root, name), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root


def make_splits(root, n_train, n_val, **kwargs):
    """``train_list.txt`` with ``n_train`` and ``val_list.txt`` with ``n_val`` images in ``root``
    (``make_split``); returns ``root``."""
    make_split(root, n_train, name="train_list.txt", **kwargs)
    make_split(root, n_val, name="val_list.txt", **kwargs)
    return root


def tiny_overrides(data_root, output_dir, epochs=2, batch_size=4, extra=()):
    """-o overrides that point the quick-start config at a tiny dataset."""
    return [f"Global.output_dir={output_dir}", f"Global.epochs={epochs}",
            "Global.device=cpu", "Global.print_batch_step=1", "Arch.class_num=3",
            f"DataLoader.Train.dataset.image_root={data_root}",
            f"DataLoader.Train.dataset.cls_label_path={data_root}/train_list.txt",
            f"DataLoader.Eval.dataset.image_root={data_root}",
            f"DataLoader.Eval.dataset.cls_label_path={data_root}/val_list.txt",
            f"DataLoader.Train.sampler.batch_size={batch_size}",
            f"DataLoader.Eval.sampler.batch_size={batch_size}",
            "DataLoader.Train.loader.num_workers=0", *extra]


def load(path, overrides=()):
    from ppcls_ext.engine import load_config

    return copy.deepcopy(load_config(path, list(overrides)))
