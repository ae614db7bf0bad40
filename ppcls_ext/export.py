"""Export a trained model: Paddle Inference (``inference.json/.pdiparams/.yml``) and ONNX.

Follows PaddleClas's export (``tools/export_model.py``): the model from ``Arch`` with the
weights ``Global.pretrained_model`` means (its model weights, the file tools/eval.py
evaluates; its EMA weights with ``Global.use_ema_weights``), a softmax appended unless
``Arch.infer_add_softmax`` (PaddleClas's key) or ``Global.infer_add_softmax`` is False, a
dynamic batch dimension, and ``inference.yml`` in the layout of the wheel's
``dump_infer_config``, written from the ``Infer`` section by ``ppcls_ext.inference_yml`` (the
wheel's function dies on a pipeline without a crop), so that the predictor preprocesses
exactly as training-time inference does. inference.yml's ``Global`` also holds ``model_name`` (``Global.pdx_model_name``
or ``Arch.name``: the name PaddleX's ``create_model`` checks) and ``image_shape``.
"""
import os
import shutil

import paddle
import paddle.nn as nn
from ppcls_infer.onnx_export import DEFAULT_OPSET, paddle_to_onnx

from ._ppcls import logger
from .inference_yml import build_inference_config, write_inference_yml
from .io import load_pretrained, read_weights
from .outputs import output_errors, refuse_symlink, staging_folder, swap_in_folder
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


def save_inference_model(model, save_dir, image_shape, add_softmax=True):
    """``save_dir/inference.json`` + ``.pdiparams``: ``model`` in eval mode (plus PaddleClas's
    optional softmax), input ``x`` of shape ``[N, *image_shape]`` with a dynamic batch."""
    wrapped = ExportModel(model, add_softmax)
    wrapped.eval()
    static = paddle.jit.to_static(
        wrapped, input_spec=[paddle.static.InputSpec([None] + list(image_shape), "float32",
                                                     "x")], full_graph=True)
    paddle.jit.save(static, os.path.join(save_dir, "inference"))


def export(config, model=None, extra_global=None, finish=None):
    """Write the inference model; returns the save directory.

    ``model``: an already built and loaded model (int8 export, ``ppcls_ext.slim``) instead of
    ``Arch`` + ``Global.pretrained_model``; ``extra_global``: more ``Global`` keys for
    inference.yml; ``finish(folder)``: writes more files (ONNX) into the export before it is
    put in place.

    All or nothing: everything is written into a new folder next to ``save_inference_dir``,
    which then replaces the old export in one step (``ppcls_ext.outputs.swap_in_folder``).
    A failure (disk full, conversion error, interruption) leaves the previous export as it
    was and removes the partial folder; no file of an older export survives beside a new one.
    """
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
    infer_cfg = build_inference_config(config, image_shape, extra_global)  # fail before writing
    refuse_symlink(save_dir)
    add_softmax = config["Arch"].get("infer_add_softmax", g.get("infer_add_softmax", True))
    stage = staging_folder(save_dir)
    try:
        with output_errors(save_dir, "write the export"):
            save_inference_model(model, stage, image_shape, bool(add_softmax))
            write_inference_yml(infer_cfg, os.path.join(stage, "inference.yml"))
            if finish is not None:
                finish(stage)
        swap_in_folder(stage, save_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    logger.info("Inference model written to %s", save_dir)
    return save_dir


def to_onnx(model_dir, save_file=None, opset_version=DEFAULT_OPSET):
    """Convert ``model_dir/inference.json`` to ONNX (``save_file``, default
    ``model_dir/inference.onnx``) with the project's one converter,
    ``ppcls_infer.onnx_export.paddle_to_onnx`` (paddle2onnx without its package-installing
    post-optimizer, opset 13 by default). Returns the file written."""
    model_file = os.path.join(model_dir, "inference.json")
    params_file = os.path.join(model_dir, "inference.pdiparams")
    for path in (model_file, params_file):
        if not os.path.isfile(path):
            raise MissingFileError(f"{path} not found: export the model first "
                                   "(tools/export_model.py)")
    save_file = save_file or os.path.join(model_dir, "inference.onnx")
    with output_errors(save_file):
        return paddle_to_onnx(model_file, params_file, save_file, opset_version)
