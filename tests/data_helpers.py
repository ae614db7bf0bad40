"""Shared fixtures for the data-pipeline tests: tiny on-disk datasets and op lists."""
import io
import os

import numpy as np
from PIL import Image

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
NORMALIZE = {"NormalizeImage": {"scale": "1.0/255.0", "mean": MEAN, "std": STD, "order": ""}}
EVAL_OPS = [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
            {"ResizeImage": {"resize_short": 36, "interpolation": "bicubic", "backend": "pil"}},
            {"CropImage": {"size": 32}},
            NORMALIZE]
# The paper's training recipe (as configs/ImageNet uses it, docs/architecture.md) at 32 px.
TRAIN_OPS = [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
             {"RandCropImage": {"size": 32, "interpolation": "bicubic", "backend": "pil"}},
             {"RandFlipImage": {"flip_code": 1}},
             {"TimmAutoAugment": {"config_str": "rand-m9-mstd0.5-inc1",
                                  "interpolation": "bicubic", "img_size": 32}},
             NORMALIZE,
             {"RandomErasing": {"EPSILON": 0.25, "sl": 0.02, "sh": "1.0/3.0", "r1": 0.3,
                                "attempt": 10, "use_log_aspect": True, "mode": "pixel"}}]
MIX_OPS = [{"OpSampler": {"MixupOperator": {"alpha": 0.8, "prob": 0.5},
                          "CutmixOperator": {"alpha": 1.0, "prob": 0.5}}}]


def encode(img, fmt="PNG", **kwargs):
    """PIL image -> file bytes."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def make_dataset(root, n=12, classes=3, size=(40, 30)):
    """``n`` random JPEGs under root/img and root/list.txt ('img/i.jpg label'); list path."""
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    lines = []
    rng = np.random.RandomState(0)
    for i in range(n):
        arr = rng.randint(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(os.path.join(root, "img", f"{i}.jpg"), quality=90)
        lines.append(f"img/{i}.jpg {i % classes}")
    write_list(root, lines)
    return os.path.join(root, "list.txt")


def write_list(root, lines):
    with open(os.path.join(root, "list.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def loader_config(root, ops, batch_ops=None, batch_size=4, workers=0, class_num=None,
                  sampler="DistributedBatchSampler", mode="Train", shuffle=True):
    dataset = {"name": "ImageNetDataset", "image_root": root,
               "cls_label_path": os.path.join(root, "list.txt"), "transform_ops": ops}
    if batch_ops:
        dataset["batch_transform_ops"] = batch_ops
    cfg = {mode: {"dataset": dataset,
                  "sampler": {"name": sampler, "batch_size": batch_size,
                              "drop_last": True, "shuffle": shuffle},
                  "loader": {"num_workers": workers, "use_shared_memory": True}}}
    if class_num:
        cfg["class_num"] = class_num
    return cfg
