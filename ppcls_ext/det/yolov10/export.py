"""The score threshold written into an exported YOLOv10's ``infer_cfg.yml``.

PaddleDetection's export (``ppdet.engine.export_utils._dump_infer_config``) writes
``draw_threshold: 0.5`` for every architecture: the predictor's default for NMS-ed detectors
(PP-YOLOE). A YOLOv10 export is NMS-free: every image gets k = min(300, anchors) rows, and its
one-to-one scores of true objects are lower than a PP-YOLOE's after NMS, so 0.5 hides many of
them; the YOLOv10 paper's release uses 0.25 for predictions (its evaluation, like COCO mAP
here, keeps every row). ``patch_infer_cfg_threshold`` (applied by ``ppcls_ext.det.install()``)
wraps the function the Trainer calls so that the written file carries the threshold of the
detector family; deploy/python/predict_det.py uses it when ``--threshold`` is not given.
"""
import functools
import os
import re
from ...validation import ConfigError

__all__ = ["DRAW_THRESHOLD", "patch_infer_cfg_threshold", "set_draw_threshold"]

# architecture (config key ``architecture``) -> default score threshold of its predictions
DRAW_THRESHOLD = {"YOLOv10": 0.25}
_LINE = re.compile(r"^draw_threshold:.*$", re.M)


def set_draw_threshold(path, threshold):
    """Rewrite the top-level ``draw_threshold`` of the infer_cfg.yml at ``path``; the rest of
    the file is kept byte for byte. Raises ValueError when the key is not there."""
    with open(path) as f:
        text = f.read()
    new, count = _LINE.subn(f"draw_threshold: {float(threshold)}", text, count=1)
    if not count:
        raise ConfigError(f"{path} has no top-level draw_threshold (not a PaddleDetection "
                          "infer_cfg.yml)")
    with open(path + ".tmp", "w") as f:
        f.write(new)
    os.replace(path + ".tmp", path)


def patch_infer_cfg_threshold(rec):
    """Wrap ``ppdet.engine.trainer._dump_infer_config`` (the name ``Trainer.export`` calls) so
    that architectures of ``DRAW_THRESHOLD`` get their threshold; ``rec`` is a
    ``ppcls_ext.patching`` recorder (``ppcls_ext.det.install()`` applies it once, undoably)."""
    import ppdet.engine.trainer as trainer

    original = trainer._dump_infer_config

    @functools.wraps(original)
    def dump_infer_config(config, path, image_shape, model):
        result = original(config, path, image_shape, model)
        threshold = DRAW_THRESHOLD.get(config.get("architecture"))
        if threshold is not None:
            set_draw_threshold(path, threshold)
        return result

    rec.setattr(trainer, "_dump_infer_config", dump_infer_config)
