"""Paddle inference model -> ONNX with paddle2onnx: the one converter of the project.

Used by ``tools/export_model.py --onnx`` (``ppcls_ext.export.to_onnx``: classifiers, int8
QDQ exports start from its fp32 ONNX) and by the deploy predictors, which convert a
PaddleClas or PaddleDetection export on first use when it has no ONNX file yet
(``deploy/python/backends.py``). paddle2onnx imports Paddle: a Paddle-free deployment ships
the ONNX file instead.

No post-optimizer is run (paddle2onnx's ``optimize_tool="None"``, the command line's
``--optimize_tool None``): its default, polygraphy, runs with POLYGRAPHY_AUTOINSTALL_DEPS=1,
i.e. pip-installs packages mid-conversion (and can upgrade numpy), and its onnxoptimizer
option always falls back to the raw model in paddle2onnx 2.1.0 (a pass name with a trailing
space). ONNX Runtime and OpenVINO optimize the graph themselves when they load it.

Opset: ``DEFAULT_OPSET`` 13 serves every model family here. Measured with paddle2onnx 2.1.0 on
the tiny exports of the tests: E-ConvNeXt classifiers (and the per-channel QuantizeLinear of
the int8 QDQ rewrite, which needs >= 13), PP-YOLOE with its NMS inside (multiclass_nms3 ->
NonMaxSuppression) and the NMS-free YOLOv10 convert at 11, 13 and 16 with identical outputs
on ONNX Runtime; 13 is the lowest that all accept.
"""
import os

from .atomic import atomic_write
from .cli import MissingPathError

DEFAULT_OPSET = 13


def paddle_to_onnx(model_file, params_file, save_file, opset_version=DEFAULT_OPSET):
    """Convert ``model_file`` (``.json`` PIR program or legacy ``.pdmodel``) with its
    ``params_file`` (``.pdiparams``) into ``save_file``, written atomically (a failed
    conversion leaves no file and an older ``save_file`` whole). Returns ``save_file``.

    Raises:
        FileNotFoundError: the model or parameters file is missing.
        ImportError: paddle2onnx is not installed.
    """
    for path in (model_file, params_file):
        if not os.path.isfile(path):
            raise MissingPathError(f"{path} not found: export the model first")
    import paddle2onnx

    def convert(tmp):
        paddle2onnx.export(model_file, params_file, tmp, opset_version=int(opset_version),
                           enable_onnx_checker=True, optimize_tool="None")
    return atomic_write(save_file, writer=convert)
