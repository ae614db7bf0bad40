"""Dygraph inference from PaddleClas's ``Infer`` section (``tools/infer.py``).

``Infer: {infer_imgs, batch_size, transforms, PostProcess: {name: Topk, topk,
class_id_map_file}}``. Image listing and Top-k post-processing are the paddleclas wheel's
deploy utilities; images that cannot be decoded are reported and skipped.
"""
import os

import numpy as np
import paddle
import paddle.nn.functional as F
from paddleclas.deploy.python.postprocess import Topk
from paddleclas.deploy.utils.get_image_list import get_image_list

from .._ppcls import resolve_paddleclas_path
from .data.decode import CorruptImageError
from .data.transforms.ops import DecodeImage, create_operators
from .recorder import logger


def list_images(path):
    if not path or not os.path.exists(path):
        raise FileNotFoundError(f"Infer.infer_imgs {path!r} does not exist (give an image file "
                                "or a folder of images)")
    try:
        return get_image_list(path)
    except Exception as exc:  # the wheel raises a bare Exception when nothing matches
        raise FileNotFoundError(f"Infer.infer_imgs {path!r}: {exc} (extensions jpg, jpeg, "
                                "png, bmp)") from exc


def build_postprocess(post_cfg):
    cfg = dict(post_cfg or {"name": "Topk", "topk": 5})
    name = cfg.pop("name", "Topk")
    if name != "Topk":
        raise ValueError(f"Infer.PostProcess.name {name!r}: only Topk is supported")
    path = cfg.get("class_id_map_file")
    if path:
        cfg["class_id_map_file"] = resolve_paddleclas_path(path)
        if cfg["class_id_map_file"] is None:
            raise FileNotFoundError(f"Infer.PostProcess.class_id_map_file {path!r} does not "
                                    "exist (lines '<class id> <name>')")
    return Topk(**cfg)


def iter_batches(paths, load, batch_size, on_error):
    """``(float32 batch, its paths)`` of up to ``batch_size`` images ``load(path)`` can read;
    an image it cannot decode goes to ``on_error(path, exc)`` and is left out. Shared by
    ``run_inference`` and deploy/python/predict_cls.py."""
    batch, names = [], []
    for path in paths:
        try:
            batch.append(load(path))
        except (CorruptImageError, OSError) as exc:
            on_error(path, exc)
            continue
        names.append(path)
        if len(batch) == batch_size:
            yield np.stack(batch).astype(np.float32), names
            batch, names = [], []
    if batch:
        yield np.stack(batch).astype(np.float32), names


def _preprocess(ops, path):
    with open(path, "rb") as f:
        img = f.read()
    for op in ops:
        img = op(img, path) if isinstance(op, DecodeImage) else op(img)
    return img


@paddle.no_grad()
def run_inference(config, model):
    infer_cfg = config.get("Infer") or {}
    ops = create_operators(infer_cfg.get("transforms"), where="Infer.transforms")
    post = build_postprocess(infer_cfg.get("PostProcess"))
    paths = list_images(infer_cfg.get("infer_imgs"))
    batch_size = int(infer_cfg.get("batch_size", 1))
    model.eval()
    results, bad = [], []

    def skip(path, exc):
        bad.append(path)
        logger.warning(f"skipped: {exc}")

    for batch, names in iter_batches(paths, lambda p: _preprocess(ops, p), batch_size, skip):
        logits = model(paddle.to_tensor(batch))
        for result in post(F.softmax(logits, axis=-1).numpy(), names):
            logger.info(result)
            results.append(result)
    if bad:
        logger.warning(f"{len(bad)} of {len(paths)} images could not be read: {bad}")
    return results
