"""Export a trained model: Paddle Inference (``inference.json/.pdiparams/.yml``) and ONNX.

Follows PaddleClas's export (``tools/export_model.py``): the model from ``Arch`` with the
weights ``Global.pretrained_model`` means (its model weights, the file tools/eval.py
evaluates; its EMA weights with ``Global.use_ema_weights``), a softmax appended unless
``Arch.infer_add_softmax`` (PaddleClas's key) or ``Global.infer_add_softmax`` is False, a
dynamic batch dimension, and ``inference.yml`` written by the wheel's ``dump_infer_config``
from the ``Infer`` section, so that the predictor preprocesses exactly as training-time
inference does. inference.yml's ``Global`` also holds ``model_name`` (``Global.pdx_model_name``
or ``Arch.name``: the name PaddleX's ``create_model`` checks) and ``image_shape``.
"""
import copy
import os

import paddle
import paddle.nn as nn

from ._ppcls import logger, ppcls_module, resolve_paddleclas_path
from .io import load_pretrained, read_weights
from .registry import build_model
from .validation import ConfigError, MissingFileError


class ExportModel(nn.Layer):
    """The classifier, in eval mode, with PaddleClas's optional softmax on top."""

    def __init__(self, model, add_softmax=True):
        super().__init__()
        self.model = model
        self.softmax = nn.Softmax(axis=-1) if add_softmax else None

    def forward(self, x):
        x = self.model(x)
        return self.softmax(x) if self.softmax is not None else x


def load_export_weights(model, path, use_ema=False, action="exporting"):
    """Load the weights ``path`` means (``ppcls_ext.io.resolve_weights_path``: a prefix is
    its model weights, as PaddleClas's export and tools/eval.py load ``{prefix}.pdparams``;
    ``use_ema`` (``Global.use_ema_weights``) takes its EMA weights instead), naming the
    choice in the log. Returns the file loaded."""
    return load_pretrained(model, read_weights(path, use_ema, action))["path"]


def _infer_config_for_dump(config):
    """The wheel's dump_infer_config wants string scales and an existing label file."""
    cfg = copy.deepcopy(dict(config))
    infer = cfg.get("Infer")
    if not infer or "transforms" not in infer:
        raise ConfigError("the config needs an Infer section with transforms and PostProcess "
                          "(see configs/quick_start/EConvNeXt_mini_digits.yaml) to write "
                          "inference.yml")
    for op in infer["transforms"]:
        norm = op.get("NormalizeImage") if isinstance(op, dict) else None
        if norm is not None and not isinstance(norm.get("scale", "1.0/255.0"), str):
            norm["scale"] = f"{float(norm['scale'])}/1.0"
        elif norm is not None:
            norm.setdefault("scale", "1.0/255.0")
    post = infer.get("PostProcess") or {}
    label_file = post.get("class_id_map_file")
    if not label_file:
        raise ConfigError("Infer.PostProcess.class_id_map_file is needed to store label names "
                          "in inference.yml")
    post["class_id_map_file"] = resolve_paddleclas_path(label_file)
    if post["class_id_map_file"] is None:
        raise MissingFileError(f"Infer.PostProcess.class_id_map_file {label_file!r} does not "
                               "exist")
    return cfg


def _record_input_shape(yml, image_shape, extra_global=None, model_name=None):
    """Add ``Global.image_shape`` so that predictors can check their preprocessing output,
    ``Global.model_name`` (PaddleX's ``create_model`` refuses a folder whose inference.yml
    names another model, and fails on one naming none) and ``extra_global`` (an int8 export
    marks itself with ``quantized: int8``)."""
    import yaml

    with open(yml) as f:
        content = yaml.safe_load(f)
    named = {"model_name": model_name} if model_name else {}
    content = dict(Global=dict(content.get("Global") or {}, **named,
                               image_shape=list(image_shape), **(extra_global or {})),
                   **{k: v for k, v in content.items() if k != "Global"})
    with open(yml + ".tmp", "w") as f:
        yaml.safe_dump(content, f, sort_keys=False)
    os.replace(yml + ".tmp", yml)


def save_inference_model(model, save_dir, image_shape, add_softmax=True):
    """``save_dir/inference.json`` + ``.pdiparams``: ``model`` in eval mode (plus PaddleClas's
    optional softmax), input ``x`` of shape ``[N, *image_shape]`` with a dynamic batch."""
    wrapped = ExportModel(model, add_softmax)
    wrapped.eval()
    static = paddle.jit.to_static(
        wrapped, input_spec=[paddle.static.InputSpec([None] + list(image_shape), "float32",
                                                     "x")], full_graph=True)
    paddle.jit.save(static, os.path.join(save_dir, "inference"))


def export(config, model=None, extra_global=None):
    """Write the inference model; returns the save directory.

    ``model``: an already built and loaded model (int8 export, ``ppcls_ext.slim``) instead of
    ``Arch`` + ``Global.pretrained_model``; ``extra_global``: more ``Global`` keys for
    inference.yml."""
    ppcls_module("utils.logger").init_logger()  # dump_infer_config logs through it
    g = config["Global"]
    save_dir = g.get("save_inference_dir") or "./inference"
    image_shape = list(g.get("image_shape") or [3, 224, 224])
    if len(image_shape) != 3:
        raise ConfigError(f"Global.image_shape must be [C, H, W], got {image_shape}")
    if model is None:
        model = build_model(config, "export")
        if g.get("pretrained_model"):
            load_export_weights(model, g["pretrained_model"], bool(g.get("use_ema_weights")))
        else:
            logger.warning("Global.pretrained_model is not set: exporting random weights")
    dump_cfg = _infer_config_for_dump(config)  # fail before writing anything
    os.makedirs(save_dir, exist_ok=True)
    add_softmax = config["Arch"].get("infer_add_softmax", g.get("infer_add_softmax", True))
    save_inference_model(model, save_dir, image_shape, bool(add_softmax))
    yml = os.path.join(save_dir, "inference.yml")
    ppcls_module("utils.config").dump_infer_config(dump_cfg, yml)
    _record_input_shape(yml, image_shape, extra_global,
                        g.get("pdx_model_name") or config["Arch"]["name"])
    logger.info("Inference model written to %s", save_dir)
    return save_dir


def to_onnx(model_dir, save_file=None, opset_version=13):
    """Convert ``model_dir/inference.json`` to ONNX with paddle2onnx, installing nothing.

    paddle2onnx's default post-optimizer is polygraphy, which it runs with
    POLYGRAPHY_AUTOINSTALL_DEPS=1, i.e. pip-installs packages mid-conversion (and can upgrade
    numpy); its onnxoptimizer option always falls back to the raw model in 2.1.0 (a pass name
    with a trailing space). So no post-optimizer is asked for: ONNX Runtime optimizes the
    graph itself when it loads it.
    """
    import paddle2onnx

    model_file = os.path.join(model_dir, "inference.json")
    params_file = os.path.join(model_dir, "inference.pdiparams")
    for path in (model_file, params_file):
        if not os.path.isfile(path):
            raise MissingFileError(f"{path} not found: export the model first "
                                   "(tools/export_model.py)")
    save_file = save_file or os.path.join(model_dir, "inference.onnx")
    tmp = save_file + ".tmp"
    paddle2onnx.export(model_file, params_file, tmp, opset_version=opset_version,
                       enable_onnx_checker=True, optimize_tool="None")
    os.replace(tmp, save_file)
    return save_file
