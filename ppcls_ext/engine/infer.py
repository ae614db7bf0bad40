"""Dygraph inference from PaddleClas's ``Infer`` section (``tools/infer.py``).

``Infer: {infer_imgs, batch_size, transforms, PostProcess: {name: Topk, topk,
class_id_map_file}}``. ``infer_imgs`` is an image, a folder (searched recursively) or a list
file, listed by ``ppcls_infer.sources`` as the deploy predictor lists them (the paddleclas
wheel's ``get_image_list`` knows only four lower-case extensions and one folder level).
Reading, batching and Top-k post-processing are the Paddle-free ``ppcls_infer`` code the
deploy predictor uses; images that cannot be decoded are named, skipped and counted.
"""
import os

import paddle
import paddle.nn.functional as F

from ppcls_infer.postprocess import build_postprocess as _build_postprocess
from ppcls_infer.postprocess import iter_batches
from ppcls_infer.preprocess import preprocess_file
from ppcls_infer.sources import list_images as _list_images
from .data.transforms.ops import create_operators
from .recorder import logger


def list_images(path):
    """Image paths of ``Infer.infer_imgs``; files that are not images are logged."""
    listing = _list_images(path, what="Infer.infer_imgs")
    if listing.ignored:
        shown = ", ".join(os.path.basename(p) for p in listing.ignored[:5])
        logger.warning(f"Infer.infer_imgs: {len(listing.ignored)} file(s) that are not images "
                    f"left out ({shown}{', ...' if len(listing.ignored) > 5 else ''})")
    return listing.images


def build_postprocess(post_cfg):
    return _build_postprocess(post_cfg, where="Infer.PostProcess")


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

    for batch, names in iter_batches(paths, lambda p: preprocess_file(ops, p), batch_size, skip):
        logits = model(paddle.to_tensor(batch))
        for result in post(F.softmax(logits, axis=-1).numpy(), names):
            logger.info(result)
            results.append(result)
    if bad:
        logger.warning(f"{len(bad)} of {len(paths)} images could not be read: {bad}")
    return results
