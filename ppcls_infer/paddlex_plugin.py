"""Run this project's exports in PaddleX 3 (``paddlex.create_model`` and its pipelines).

PaddleX 3.7 finds a predictor for a model through its binding registry
(``paddlex.inference.models.bindings``): a model name maps, per inference engine
(``paddle_static`` = Paddle Inference, ``onnxruntime``, ``hpi``), to a predictor class. Its
own names (``ConvNeXt_tiny``, ``PP-YOLOE_plus-S``, ...) are registered when PaddleX is
imported; PaddleX has no plugin entry point, so ``register()`` adds this project's names to
the same registry with the predictors PaddleX uses for ConvNeXt and PP-YOLOE:

* the E-ConvNeXt classifiers (``EConvNeXt_mini``, ``_tiny``, ``_small``) with
  ``ClasRunnerPredictor`` (PaddleClas ``inference.yml``: PreProcess.transform_ops and
  PostProcess.Topk);
* the detectors with an E-ConvNeXt backbone (``DETECTORS``: PP-YOLOE and YOLOv10) with
  ``DetRunnerPredictor`` (PaddleDetection ``Preprocess``, ``label_list``, ``draw_threshold``).
  PaddleX 3.7.2 has no YOLOv10 of its own; its detection predictor fits the YOLOv10 export as
  it fits PP-YOLOE's: it feeds ``image`` and ``scale_factor``, reads ``bbox`` [N, 6] (class,
  score, x1, y1, x2, y2 in input pixels) with ``bbox_num`` per image, and keeps the rows whose
  score exceeds ``threshold`` (default: the export's ``draw_threshold``). It adds no NMS, and
  the YOLOv10 export needs none: the model selects its k = min(300, anchors) boxes itself and
  writes ``draw_threshold: 0.25`` (``ppcls_ext.det.yolov10.export``), the default of
  deploy/python/predict_det.py too.

PaddleX reads a model folder as ``inference.json`` + ``inference.pdiparams`` (Paddle
Inference) or ``inference.onnx`` (ONNX Runtime) with ``inference.yml`` whose
``Global.model_name`` must equal the name asked for. ``tools/export_model.py`` writes
classifiers that way; ``paddlex_model_dir()`` lays out a PaddleDetection export
(``model.json``/``model.pdiparams``/``infer_cfg.yml``/``model.onnx``) the same way.

Usage (in an environment with ``paddlex``; this module imports neither Paddle nor PaddleX
until ``register()`` runs)::

    from ppcls_infer.paddlex_plugin import register
    register()
    import paddlex
    model = paddlex.create_model(model_name="EConvNeXt_mini", model_dir="inference/mini")
"""
import os
import shutil

import yaml
from .cli import MissingPathError

CLASSIFIERS = ("EConvNeXt_mini", "EConvNeXt_tiny", "EConvNeXt_small")
# PaddleX-style names of the shipped detection configs with an E-ConvNeXt backbone
# (configs/detection/*.yml; PaddleX's own spelling: PP-YOLOE_plus-S, YOLOX-S)
DETECTORS = {
    "PP-YOLOE-S_EConvNeXt_mini": "ppyoloe_s_econvnext_mini_36e_coco",
    "PP-YOLOE-M_EConvNeXt_mini": "ppyoloe_m_econvnext_mini_36e_coco",
    "PP-YOLOE-L_EConvNeXt_tiny": "ppyoloe_l_econvnext_tiny_36e_coco",
    "YOLOv10-M_EConvNeXt_tiny": "yolov10_m_econvnext_tiny_36e_coco",
    "YOLOv10-L_EConvNeXt_tiny": "yolov10_l_econvnext_tiny_36e_coco",
}
ENGINES = ("paddle_static", "onnxruntime", "hpi")
MODEL_FILE_PREFIX = "inference"  # paddlex.constants.MODEL_FILE_PREFIX


def register(classifiers=(), detectors=()):
    """Register the E-ConvNeXt classifiers and detectors (plus any extra names given) in
    PaddleX's default binding registry for the Paddle Inference, ONNX Runtime and HPI
    engines. Idempotent. Returns the registered names.

    Raises ImportError with the install line when PaddleX is missing.
    """
    try:
        from paddlex.inference.models.bindings import register_predictor_binding_map
        from paddlex.inference.models.image_classification import ClasRunnerPredictor
        from paddlex.inference.models.object_detection import DetRunnerPredictor
    except ImportError as exc:
        raise ImportError(
            f"PaddleX is not importable ({exc}); install it in its own environment: "
            "pip install paddlepaddle==3.3.1 'paddlex[cv]==3.7.2' (see "
            "docs/paddleclas_paddlex.md)") from exc
    cls_names = list(CLASSIFIERS) + [n for n in classifiers if n not in CLASSIFIERS]
    det_names = list(DETECTORS) + [n for n in detectors if n not in DETECTORS]
    register_predictor_binding_map(ClasRunnerPredictor, {e: cls_names for e in ENGINES})
    register_predictor_binding_map(DetRunnerPredictor, {e: det_names for e in ENGINES})
    return cls_names + det_names


def _link_or_copy(src, dst):
    if os.path.exists(dst):
        os.remove(dst)
    try:
        os.link(src, dst)  # same bytes, no second copy of the weights
    except OSError:
        shutil.copyfile(src, dst)


def paddlex_model_dir(export_dir, model_name, out_dir=None):
    """Lay out an export for PaddleX: ``inference.{json,pdiparams,onnx}`` and an
    ``inference.yml`` with ``Global.model_name: model_name``. Returns the folder.

    ``export_dir``: a classifier export of tools/export_model.py (``inference.*``, its
    inference.yml gains the name) or a detector export of tools/det/export_model.py
    (``model.*`` + ``infer_cfg.yml``: files linked, PaddleDetection's infer_cfg.yml, which
    is what PaddleX's detection predictor reads, written as inference.yml).
    ``out_dir``: where to write (default: ``export_dir`` itself). Raises FileNotFoundError
    naming what is missing.
    """
    out_dir = out_dir or export_dir
    os.makedirs(out_dir, exist_ok=True)
    det_cfg = os.path.join(export_dir, "infer_cfg.yml")
    if os.path.isfile(det_cfg):
        prefix, cfg_path = "model", det_cfg
    elif os.path.isfile(os.path.join(export_dir, "inference.yml")):
        prefix, cfg_path = MODEL_FILE_PREFIX, os.path.join(export_dir, "inference.yml")
    else:
        raise MissingPathError(
            f"{export_dir!r} is not an export of this project: neither inference.yml "
            "(tools/export_model.py) nor infer_cfg.yml (tools/det/export_model.py) is there")
    found = [s for s in (".json", ".pdmodel", ".pdiparams", ".onnx")
             if os.path.isfile(os.path.join(export_dir, prefix + s))]
    if ".pdiparams" not in found and ".onnx" not in found:
        raise MissingPathError(f"{export_dir!r} has no {prefix}.pdiparams nor {prefix}.onnx")
    if os.path.abspath(out_dir) != os.path.abspath(export_dir) or prefix != MODEL_FILE_PREFIX:
        for suffix in found:
            _link_or_copy(os.path.join(export_dir, prefix + suffix),
                          os.path.join(out_dir, MODEL_FILE_PREFIX + suffix))
    with open(cfg_path) as f:
        cfg = yaml.safe_load(f) or {}
    cfg = dict(Global=dict(cfg.get("Global") or {}, model_name=model_name),
               **{k: v for k, v in cfg.items() if k != "Global"})
    target = os.path.join(out_dir, MODEL_FILE_PREFIX + ".yml")
    with open(target + ".tmp", "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    os.replace(target + ".tmp", target)
    return out_dir
