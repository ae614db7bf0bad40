"""Where the quantizers sit: which layers of the model run in int8.

Quantized are the dense convolutions (groups == 1) that carry almost all of E-ConvNeXt's
MACs: the block's pointwise expansion/projection (pwconv1/pwconv2), the CSP split/merge
1x1 convs and the stride-2 downsampling convs. A runtime fuses an activation QDQ into the
producer of the conv input (BN/GELU post-ops) and runs the conv on VNNI int8 kernels.

Left in float, because an int8 version is slower or fuses with nothing (measured: a QDQ graph
that also quantizes these made mini 1.4-3.2x slower than fp32, see
benchmarks/results/quantization.md):
the 7x7 depthwise convs (memory bound, no int8 gain, and their weights quantize badly), the
ESE gate convs (1x1 on a pooled 1x1 map, plus the hard-sigmoid and multiply around them), the
stem conv on the raw image (3 input channels) and the classifier (the most
accuracy-sensitive layer, one GEMV at batch 1). GELU, hard-sigmoid, residual adds and BN stay
float either way.
"""
import paddle.nn as nn

from ..arch.econvnext import EffectiveSE


def int8_layer_names(model):
    """Names (``named_sublayers``) of the layers to quantize, in model order."""
    gates = {id(layer.fc) for _, layer in model.named_sublayers() if isinstance(layer, EffectiveSE)}
    names = []
    for name, layer in model.named_sublayers():
        if not isinstance(layer, nn.Conv2D) or layer._groups != 1 or id(layer) in gates:
            continue
        if name.startswith("stem."):
            continue
        names.append(name)
    return names


def mark_float_layers(model):
    """Set PaddleSlim's ``skip_quant`` on every layer outside ``int8_layer_names``: its QAT and
    PTQ then wrap or observe only the int8 layers. Returns the int8 layer names."""
    names = set(int8_layer_names(model))
    for name, layer in model.named_sublayers():
        if name not in names and isinstance(layer, (nn.Conv2D, nn.Linear, nn.BatchNorm2D)):
            layer.skip_quant = True
    return sorted(names)
