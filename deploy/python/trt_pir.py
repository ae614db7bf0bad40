"""TensorRT for the exported PIR model (``inference.json``), the way Paddle 3.x documents it.

Paddle Inference's ``Config.enable_tensorrt_engine`` is documented for ``.pdmodel`` programs;
for PIR ``.json`` models Paddle 3.x points to ``paddle.tensorrt``: ``convert(model_prefix,
TensorRTConfig(inputs=[Input(min/optim/max shapes)], precision_mode, save_model_dir))``
builds the TensorRT subgraphs once and saves ``<save_model_dir>.json`` + ``.pdiparams``,
which a plain GPU ``Config`` then runs (see Paddle's "GPU TensorRT 加速推理" guide and
``python/paddle/tensorrt/export.py``). The shape profile comes from ``inference.yml``'s
``Global.image_shape`` (what tools/export_model.py exported) and the predictor's batch size.

None of this runs on this repository's CPU machines: it is tested with ``paddle.tensorrt``
mocked (tests/test_deploy.py) and has not been run on a GPU.
"""
import os

import yaml
from ppcls_infer.cli import UserError


class TensorRTSetupError(UserError, RuntimeError):
    """TensorRT asked for where it cannot run (no CUDA build, no tensorrt package): one line."""


def check_precision(g):
    """``use_fp16`` needs TensorRT on the Paddle backend; elsewhere it would silently run
    fp32 (PaddleClas's predictor asserts the same)."""
    if g.get("use_fp16", False) and not (g.get("use_gpu", False) and
                                         g.get("use_tensorrt", False) and
                                         str(g.get("backend", "paddle")).lower() == "paddle"):
        raise TensorRTSetupError(
            "Global.use_fp16=True needs Global.use_gpu=True and Global.use_tensorrt=True on "
            "the paddle backend (fp16 runs only through TensorRT here); set "
            "Global.use_fp16=False to run in fp32")


def exported_image_shape(model_dir):
    """``[C, H, W]`` from ``inference.yml`` (written by tools/export_model.py)."""
    path = os.path.join(model_dir, "inference.yml")
    shape = None
    if os.path.isfile(path):
        with open(path) as f:
            shape = ((yaml.safe_load(f) or {}).get("Global") or {}).get("image_shape")
    if not shape or len(shape) != 3:
        raise TensorRTSetupError(
            f"TensorRT needs the exported input size: {path} has no Global.image_shape "
            "[C, H, W]; re-export with tools/export_model.py")
    return [int(d) for d in shape]


def shape_profile(image_shape, batch_size, max_batch_size=None):
    """(min, optim, max) input shapes: batch 1, the configured batch, the larger of the
    two batch settings, each at the exported image size."""
    batch = max(1, int(batch_size))
    top = max(batch, int(max_batch_size or batch))
    return [[1] + image_shape, [batch] + image_shape, [top] + image_shape]


def converted_model(model_dir, g):
    """Paths ``(model.json, model.pdiparams)`` of the TensorRT-converted model, converting
    (and caching under ``trt_cache_dir``) when there is no conversion newer than
    ``inference.json`` for this precision and batch range."""
    import paddle

    if not paddle.device.is_compiled_with_cuda():
        raise TensorRTSetupError("Global.use_tensorrt=True needs a Paddle GPU build with "
                                 "TensorRT (paddlepaddle-gpu and the TensorRT libraries); set "
                                 "Global.use_tensorrt=False")
    image_shape = exported_image_shape(model_dir)
    low, opt, high = shape_profile(image_shape, g.get("batch_size", 1),
                                   g.get("trt_max_batch_size"))
    fp16 = bool(g.get("use_fp16", False))
    cache = g.get("trt_cache_dir") or os.path.join(model_dir, "trt_cache")
    prefix = os.path.join(cache, f"inference_{'fp16' if fp16 else 'fp32'}_b{high[0]}")
    source = os.path.join(model_dir, "inference.json")
    if os.path.isfile(prefix + ".json") and \
            os.path.getmtime(prefix + ".json") >= os.path.getmtime(source):
        return prefix + ".json", prefix + ".pdiparams"
    try:
        from paddle import tensorrt as ptrt
    except ImportError as exc:  # CPU wheels lack it; it also needs NVIDIA's tensorrt package
        raise TensorRTSetupError(f"Global.use_tensorrt=True but paddle.tensorrt cannot be "
                                 f"imported ({exc}); install the TensorRT Python package that "
                                 "matches paddlepaddle-gpu, or set Global.use_tensorrt=False") \
            from exc
    os.makedirs(cache, exist_ok=True)
    config = ptrt.TensorRTConfig(
        inputs=[ptrt.Input(min_input_shape=low, optim_input_shape=opt,
                           max_input_shape=high, name="x")],
        min_subgraph_size=int(g.get("min_subgraph_size", 3)),
        precision_mode=ptrt.PrecisionMode.FP16 if fp16 else ptrt.PrecisionMode.FP32,
        save_model_dir=prefix)
    ptrt.convert(os.path.join(model_dir, "inference"), config)
    return prefix + ".json", prefix + ".pdiparams"
