"""Write an int8 inference model (QAT or PTQ) in the layout of any export.

``DIR/inference.onnx``: the int8 model (QDQ, see ``qdq.py``), run by ONNX Runtime and OpenVINO.
``DIR/inference.yml``: preprocessing and labels as for fp32, plus ``Global.quantized: int8``
(how the predictor recognises an int8 model), ``quant_method`` and ``quant_act_dtype``.
``DIR/inference.json`` + ``.pdiparams``: the *float* program of the same weights, for the
Paddle backend. Paddle Inference 3.3.1 would not run int8 on CPU anyway (docs/deployment.md),
and the int8 Paddle program (PaddleSlim's ``save_quantized_model``) needs the legacy program
format (``legacy.py``).
"""
import os

from .._ppcls import logger
from ..export import export, to_onnx
from ..registry import build_model
from ..io import WeightsFileError, read_weights
from ..validation import ConfigError
from .placement import int8_layer_names
from .qat import float_state, is_qat_state, prepare_qat, qat_scales
from .qdq import write_int8_onnx


def export_int8(config, float_model, quantized, method, act_dtype="uint8"):
    """Export ``float_model`` with the int8 layers ``quantized`` = ``[(name, weight,
    threshold)]``; returns the save directory."""
    extra = dict(quantized="int8", quant_method=method, quant_act_dtype=act_dtype)
    save_dir = export(config, model=float_model, extra_global=extra)
    onnx_file = os.path.join(save_dir, "inference.onnx")
    fp32_tmp = os.path.join(save_dir, "inference_fp32.onnx.tmp")
    try:
        to_onnx(save_dir, fp32_tmp)
        count = write_int8_onnx(fp32_tmp, onnx_file, [(w, t) for _, w, t in quantized],
                                act_dtype)
    finally:
        if os.path.exists(fp32_tmp):
            os.remove(fp32_tmp)
    logger.info("int8 ONNX model (%s, %d convs int8, %s activations) written to %s",
                method, count, act_dtype, onnx_file)
    return save_dir


def export_qat(config, act_dtype="uint8"):
    """``tools/export_model.py`` with a ``Slim`` section: the QAT checkpoint of
    ``Global.pretrained_model`` -> int8 export with the trained scales."""
    g = config["Global"]
    if not g.get("pretrained_model"):
        raise ConfigError("exporting a Slim (QAT) config needs Global.pretrained_model, the QAT "
                          "checkpoint written by tools/train.py (e.g. "
                          "output/EConvNeXt_mini/best_model)")
    pretrained = read_weights(g["pretrained_model"], bool(g.get("use_ema_weights")),
                              "exporting (int8, QAT)")
    path = pretrained[1]
    if not is_qat_state(pretrained[0]):
        raise WeightsFileError(f"{path} holds float weights, not a QAT checkpoint: train with the "
                               "Slim config first (tools/train.py), or quantize the float model "
                               "with tools/quant_post.py")
    qat_model = build_model(config, "export")
    prepare_qat(config, qat_model, "export", pretrained)
    qat_model.eval()
    float_model = build_model(config, "export")
    quantized = qat_scales(qat_model, int8_layer_names(float_model))
    float_model.set_state_dict(float_state(qat_model.state_dict()))
    float_model.eval()
    return export_int8(config, float_model, quantized, "qat", act_dtype)
