"""Post-training quantization with PaddleSlim: calibrate activation ranges on sample images.

PaddleSlim's dygraph ``PTQ`` (Paddle's ``ImperativePTQ``) hooks the int8 layers, observes
their inputs while the float model runs the calibration batches in eval mode, and computes the
thresholds with the chosen activation quantizer: KL divergence by default (PaddleSlim's
default; on the digits quick start it kept top-1 within 0.3 points where the histogram
percentile lost 0.8 and abs-max 0.6, benchmarks/results/quantization.md), ``hist``, ``abs_max``.
The thresholds are read back from the observers; the ONNX QDQ graph is written by ``qdq.py``.
Nothing here needs Paddle's legacy program format: PaddleSlim's own
``save_quantized_model`` does (see ``legacy.py``), and its output cannot be converted by
paddle2onnx 2.1.0 anyway (``qdq.py``).
"""
import contextlib
import io

import paddle

from ..validation import ConfigError, DataError
from .placement import mark_float_layers

ACT_QUANTIZERS = {"hist": "HistQuantizer", "kl": "KLQuantizer", "abs_max": "AbsmaxQuantizer"}


@paddle.no_grad()
def calibrate(model, batches, algo="kl"):
    """Run ``batches`` (iterable of NCHW float arrays/tensors) through ``model`` and return
    ``[(layer name, weight ndarray, activation threshold)]`` for the int8 layers.

    ``model`` is observed in place (hooks are removed afterwards); its numbers do not change.
    """
    from paddleslim.dygraph.quant import PTQ

    if algo not in ACT_QUANTIZERS:
        raise ValueError(f"PTQ activation quantizer {algo!r}; valid: {', '.join(ACT_QUANTIZERS)}")
    names = mark_float_layers(model)
    model.eval()
    with contextlib.redirect_stdout(io.StringIO()):  # PaddleSlim prints its quantizer name
        ptq = PTQ(activation_quantizer=ACT_QUANTIZERS[algo],
                  weight_quantizer="PerChannelAbsmaxQuantizer")
    ptq.quantize(model, inplace=True)
    count = 0
    for batch in batches:
        model(paddle.to_tensor(batch, dtype="float32"))
        count += 1
    if count == 0:
        raise DataError("PTQ got no calibration images: the calibration set is empty")
    layers = dict(model.named_sublayers())
    result = []
    for name in names:
        config = layers[name]._quant_config
        config.in_act_quantizer.cal_thresholds()  # ImperativePTQ._cal_thresholds, input side
        config.quant_hook_handle.remove()
        threshold = float(config.in_act_quantizer.thresholds[0])
        result.append((name, layers[name].weight.numpy(), threshold))
        del layers[name]._quant_config
    return result


def calibration_batches(config, calib_num, batch_size=16, synthetic=False, seed=0):
    """Up to ``calib_num`` images of ``DataLoader.Train`` (a fixed random subset), preprocessed
    with the ``DataLoader.Eval`` transforms (calibration must see what inference sees, not
    training augmentation); ``synthetic``: Gaussian images of ``Global.image_shape``, for
    latency measurements of a random-weight model. Yields NCHW float32 arrays."""
    import copy

    import numpy as np

    if calib_num < 1:
        raise ConfigError(f"--calib_num must be >= 1, got {calib_num}")
    rng = np.random.RandomState(seed)
    if synthetic:
        shape = list(config["Global"].get("image_shape") or [3, 224, 224])
        for start in range(0, calib_num, batch_size):
            n = min(batch_size, calib_num - start)
            yield rng.standard_normal([n] + shape).astype("float32")
        return
    from ..engine.data import build_dataset

    loaders = config.get("DataLoader") or {}
    train = (loaders.get("Train") or {}).get("dataset")
    if not train:
        raise ConfigError("PTQ calibrates on DataLoader.Train.dataset, which the config lacks "
                          "(or pass --synthetic_calib for a latency-only model)")
    dataset_cfg = copy.deepcopy(dict(train))
    eval_ops = ((loaders.get("Eval") or {}).get("dataset") or {}).get("transform_ops")
    if eval_ops:
        dataset_cfg["transform_ops"] = copy.deepcopy(eval_ops)
    try:
        dataset = build_dataset(dataset_cfg, "DataLoader.Train.dataset")
    except ValueError as exc:  # e.g. an empty list: say that it is the calibration set
        raise DataError(f"PTQ calibration set (DataLoader.Train): {exc}") from exc
    if len(dataset) == 0:
        raise ConfigError(f"PTQ got no calibration images: {train.get('cls_label_path')} "
                          "lists none")
    order = rng.permutation(len(dataset))[:calib_num]
    for start in range(0, len(order), batch_size):
        yield np.stack([dataset[int(i)][0] for i in order[start:start + batch_size]])


def quantize_post(config, calib_num=256, algo="kl", act_dtype="uint8", synthetic=False):
    """``tools/quant_post.py``: the float model of ``Global.pretrained_model`` (random init
    without it) -> PTQ int8 export in ``Global.save_inference_dir``. Returns the directory."""
    from .._ppcls import logger
    from ..export import load_export_weights
    from ..registry import build_model
    from .export import export_int8

    g = config["Global"]
    model = build_model(config, "export")
    if g.get("pretrained_model"):
        load_export_weights(model, g["pretrained_model"], bool(g.get("use_ema_weights")),
                            "quantizing")
    else:
        logger.warning("Global.pretrained_model is not set: quantizing random weights "
                       "(fine for latency, meaningless for accuracy)")
    model.eval()
    batches = calibration_batches(config, calib_num, synthetic=synthetic)
    quantized = calibrate(model, batches, algo)  # removes its hooks: model is float again
    return export_int8(config, model, quantized, "ptq", act_dtype)
