"""Quantization-aware training with PaddleSlim, the PaddleClas way: ``Slim: {quant: {name: pact}}``.

As in PaddleClas's ``ppcls/engine/slim/quant.py``: PaddleSlim's dygraph ``QAT`` wraps the
model's Conv2D/Linear layers with fake quantizers (per-channel abs-max weights, moving-average
abs-max activations) and a PACT clip on their inputs, and training continues from a float
checkpoint. Differences: only the layers of ``placement.int8_layer_names`` are wrapped (the
rest is marked ``skip_quant``), so that training simulates exactly the int8 graph that is
deployed; and the float weights are loaded *before* wrapping (the wrapper renames
``conv.weight`` to ``conv._layer.weight``), while a QAT checkpoint loads after it.
"""
import re

from .._ppcls import logger
from ..io import check_classifier_fit, load_pretrained, match_state_dict, read_weights
from ..validation import ConfigError, check_slim_config
from .placement import mark_float_layers

# PaddleSlim QAT settings; the same values as PaddleClas's QUANT_CONFIG, plus onnx_format.
_QAT_CONFIG = dict(
    weight_quantize_type="channel_wise_abs_max",
    activation_quantize_type="moving_average_abs_max",
    weight_bits=8, activation_bits=8, dtype="int8", window_size=10000, moving_rate=0.9,
    quantizable_layer_type=["Conv2D", "Linear"], onnx_format=True)

_QUANT_STATE = re.compile(r"\._fake_quant_|\._act_preprocess\.|\._ma_output_scale\.")


def is_qat_state(state):
    """True for a checkpoint written during QAT (it holds the fake quantizers' state)."""
    return any(_QUANT_STATE.search(key) for key in state)


def float_state(state):
    """A QAT checkpoint's float weights under the plain model's names."""
    return {key.replace("._layer.", "."): value for key, value in state.items()
            if not _QUANT_STATE.search(key)}


def wrap_for_qat(model, quantizer="pact"):
    """Wrap ``model``'s int8 layers in place with PaddleSlim's fake quantizers; returns the
    PaddleSlim ``QAT`` object and the int8 layer names."""
    from paddleslim.dygraph.quant import QAT

    names = mark_float_layers(model)
    config = dict(_QAT_CONFIG, activation_preprocess_type="PACT" if quantizer == "pact" else None)
    quanter = QAT(config=config)
    quanter.quantize(model)
    return quanter, names


def prepare_qat(config, model, mode, pretrained=None):
    """Engine hook: wrap ``model`` for QAT when the config has ``Slim.quant``.

    ``Global.pretrained_model`` is loaded here, read once: a float checkpoint before wrapping
    (QAT starts from it), a QAT checkpoint after (eval, export, fine-tuning again).
    ``pretrained``: that checkpoint already read, as a ``(state dict, path)`` pair. Returns the
    quanter or None (no Slim section); the caller must then not load ``pretrained_model``
    again.
    """
    name = check_slim_config(config.get("Slim"))
    if name is None:
        return None
    g = config["Global"]
    if pretrained is None and g.get("pretrained_model"):
        pretrained = read_weights(g["pretrained_model"], bool(g.get("use_ema_weights")),
                                  "QAT (fine-tuning, evaluating or exporting) from")
    state, path = pretrained if pretrained is not None else (None, None)
    if state is not None and not is_qat_state(state):
        load_pretrained(model, pretrained, fine_tune=mode == "train")
    elif mode == "train" and state is None and not g.get("checkpoints"):
        logger.warning("Slim.quant is set but Global.pretrained_model is not: QAT starts from "
                       "random weights (give the float checkpoint to fine-tune from)")
    quanter, names = wrap_for_qat(model, name)
    if state is not None and is_qat_state(state):
        check_classifier_fit(model.state_dict(), state, path, fine_tune=mode == "train")
        report = match_state_dict(model.state_dict(), state)
        if report["mismatched"] or report["missing"]:
            raise ConfigError(f"{path!r} is a QAT checkpoint of another model: "
                              f"{(report['mismatched'] + report['missing'])[:5]}")
        model.set_state_dict(report["loadable"])
        logger.info("Loaded QAT weights from %s", path)
    logger.info("QAT (%s): %d layers run in int8: %s ...", name, len(names), names[:4])
    return quanter


def qat_scales(model, names):
    """``[(name, float weight ndarray, activation threshold)]`` of a QAT-wrapped model."""
    layers = dict(model.named_sublayers())
    result = []
    for name in names:
        layer = layers[name]
        layer = getattr(layer, "_layer", layer)  # PaddleSlim's output-scale wrapper
        act = layer._fake_quant_input._scale
        result.append((name, layer.weight.numpy(), float(act.numpy().reshape(-1)[0])))
    return result
