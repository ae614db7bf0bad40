"""Dygraph inference from PaddleClas's ``Infer`` section (``tools/infer.py``).

``Infer: {infer_imgs, batch_size, transforms, PostProcess: {name: Topk, topk,
class_id_map_file}}``. Image listing is the paddleclas wheel's deploy utility; reading,
batching and Top-k post-processing are the Paddle-free ``ppcls_infer`` code the deploy
predictor uses; images that cannot be decoded are reported and skipped.
"""
import os

import paddle
import paddle.nn.functional as F
from paddleclas.deploy.utils.get_image_list import get_image_list

from ppcls_infer.postprocess import build_postprocess as _build_postprocess
from ppcls_infer.postprocess import iter_batches
from ppcls_infer.preprocess import preprocess_file
from .data.transforms.ops import create_operators
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
