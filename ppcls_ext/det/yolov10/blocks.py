"""YOLOv10 building blocks (Wang et al., "YOLOv10: Real-Time End-to-End Object Detection",
arXiv 2405.14458, section 4 and figure 3; C2f is YOLOv8's CSP block with two 3x3 convolutions
per bottleneck).

All tensors are NCHW. Every convolution is a ``ConvBNAct`` unit (conv without bias ->
BatchNorm -> activation, the activation switchable off), which is what the paper's figures draw
as "Conv" / "DW" boxes. Parameter initialisation and the BatchNorm settings are applied by the
detector's parts (``init.init_yolo_layer``), not here, so that a block can be built and tested
alone.

========================  ======================================================================
``ConvBNAct``             k x k conv (stride s, groups g) + BN + SiLU/none
``Bottleneck``            3x3 -> 3x3, residual when in == out and ``shortcut``
``C2f``                   1x1 split in two halves, n bottlenecks chained on the second half,
                          every intermediate output concatenated, 1x1 fuse
``SCDown``                spatial-channel decoupled downsampling: 1x1 (channels) then 3x3
                          depthwise stride 2 without activation (paper 3.2, "efficiency")
``LargeKernelDW``         7x7 + 3x3 depthwise branches summed then SiLU (training form of the
                          large-kernel depthwise conv of CIB, paper 3.2 "accuracy"); fuses
                          to one 7x7 for export (``convert_to_deploy``)
``CIB``                   compact inverted block: DW3x3, 1x1 (x2), DW3x3 or large kernel,
                          1x1, DW3x3, residual (paper fig. 3b)
``C2fCIB``                C2f whose bottlenecks are CIBs
``Attention``             multi-head self-attention on a feature map, queries/keys at half
                          the head width, plus a depthwise 3x3 positional term on the values
``PSA``                   partial self-attention: half the channels through attention + FFN,
                          the other half untouched, 1x1 fuse (paper fig. 3c)
``SPPF``                  PaddleDetection's ``SPPFLayer`` (1x1, three chained 5x5 max-pools,
                          concat, 1x1), reused as is
========================  ======================================================================
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from ppdet.modeling.backbones.csp_darknet import SPPFLayer as SPPF
from ...validation import ConfigError

__all__ = ["ConvBNAct", "Bottleneck", "C2f", "SCDown", "LargeKernelDW", "CIB", "C2fCIB",
           "Attention", "PSA", "SPPF", "make_activation"]

ACTIVATIONS = ("silu", "swish", "relu", "leaky_relu", "none")


def make_activation(act):
    """``act`` as a layer: "silu"/"swish"/True -> SiLU, "relu", "leaky_relu" (0.1),
    None/False/"none" -> identity."""
    if act is None or act is False or act == "none":
        return nn.Identity()
    if act is True or act in ("silu", "swish"):
        return nn.Silu()
    if act == "relu":
        return nn.ReLU()
    if act == "leaky_relu":
        return nn.LeakyReLU(0.1)
    raise ConfigError(f"unknown activation {act!r}; valid: {', '.join(ACTIVATIONS)}")


class ConvBNAct(nn.Layer):
    """Conv2D (no bias, 'same' padding for odd kernels) -> BatchNorm2D -> activation.

    [N, in_channels, H, W] -> [N, out_channels, ceil(H / stride), ceil(W / stride)].
    """

    def __init__(self, in_channels, out_channels, kernel_size=1, stride=1, groups=1,
                 act="silu"):
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, kernel_size, stride=stride,
                              padding=kernel_size // 2, groups=groups, bias_attr=False)
        self.bn = nn.BatchNorm2D(out_channels)
        self.act = make_activation(act)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Layer):
    """YOLOv8's bottleneck: 3x3 conv -> 3x3 conv (hidden = out * expansion), plus the input
    when ``shortcut`` and in == out. [N, C_in, H, W] -> [N, C_out, H, W]."""

    def __init__(self, in_channels, out_channels, shortcut=True, expansion=1.0, act="silu"):
        super().__init__()
        hidden = int(out_channels * expansion)
        self.conv1 = ConvBNAct(in_channels, hidden, 3, act=act)
        self.conv2 = ConvBNAct(hidden, out_channels, 3, act=act)
        self.residual = shortcut and in_channels == out_channels

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        return x + y if self.residual else y


class C2f(nn.Layer):
    """CSP block with every bottleneck's output kept (YOLOv8's C2f).

    A 1x1 conv gives 2 x h channels (h = out * expansion), split into two halves; ``num_blocks``
    units run one after another on the second half; the two halves and each unit's output
    ((2 + n) x h channels) are concatenated and fused by a 1x1 conv.
    [N, C_in, H, W] -> [N, C_out, H, W].
    """

    def __init__(self, in_channels, out_channels, num_blocks=1, shortcut=False, expansion=0.5,
                 act="silu"):
        super().__init__()
        self.hidden = int(out_channels * expansion)
        self.conv1 = ConvBNAct(in_channels, 2 * self.hidden, 1, act=act)
        self.conv2 = ConvBNAct((2 + num_blocks) * self.hidden, out_channels, 1, act=act)
        self.blocks = nn.LayerList([self._unit(shortcut, act) for _ in range(num_blocks)])

    def _unit(self, shortcut, act):
        return Bottleneck(self.hidden, self.hidden, shortcut, expansion=1.0, act=act)

    def forward(self, x):
        parts = list(paddle.split(self.conv1(x), 2, axis=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.conv2(paddle.concat(parts, axis=1))


class SCDown(nn.Layer):
    """Spatial-channel decoupled downsampling: 1x1 conv to ``out_channels`` (SiLU), then a
    k x k depthwise conv with ``stride`` and no activation.
    [N, C_in, H, W] -> [N, C_out, ceil(H / s), ceil(W / s)]."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=2, act="silu"):
        super().__init__()
        self.conv1 = ConvBNAct(in_channels, out_channels, 1, act=act)
        self.conv2 = ConvBNAct(out_channels, out_channels, kernel_size, stride,
                               groups=out_channels, act=None)

    def forward(self, x):
        return self.conv2(self.conv1(x))


class LargeKernelDW(nn.Layer):
    """Depthwise 7x7 conv-BN plus depthwise 3x3 conv-BN, summed, then the activation: the
    training form of CIB's large-kernel depthwise conv (the paper's structural
    reparameterisation). ``convert_to_deploy()`` folds both branches and their BatchNorms into
    one 7x7 depthwise conv with bias (identical outputs in eval mode; PaddleDetection's export
    calls it). [N, C, H, W] -> [N, C, H, W]."""

    def __init__(self, channels, kernel_size=7, small_kernel_size=3, act="silu"):
        super().__init__()
        self.large = ConvBNAct(channels, channels, kernel_size, groups=channels, act=None)
        self.small = ConvBNAct(channels, channels, small_kernel_size, groups=channels, act=None)
        self.act = make_activation(act)
        self.fused = None

    def forward(self, x):
        if self.fused is not None:
            return self.act(self.fused(x))
        return self.act(self.large(x) + self.small(x))

    @staticmethod
    def _folded(unit):
        bn = unit.bn
        scale = bn.weight / paddle.sqrt(bn._variance + bn._epsilon)
        kernel = unit.conv.weight * scale.reshape([-1, 1, 1, 1])
        return kernel, bn.bias - bn._mean * scale

    @paddle.no_grad()
    def convert_to_deploy(self):
        if self.fused is not None:
            return
        k_large, b_large = self._folded(self.large)
        k_small, b_small = self._folded(self.small)
        pad = (k_large.shape[-1] - k_small.shape[-1]) // 2
        k_small = F.pad(k_small, [pad, pad, pad, pad])
        channels = k_large.shape[0]
        fused = nn.Conv2D(channels, channels, k_large.shape[-1], padding=k_large.shape[-1] // 2,
                          groups=channels)
        fused.weight.set_value(k_large + k_small)
        fused.bias.set_value(b_large + b_small)
        self.fused = fused
        del self.large, self.small


class CIB(nn.Layer):
    """Compact inverted block: DW3x3(in) -> 1x1 to 2h -> DW3x3 (or ``LargeKernelDW``) -> 1x1 to
    out -> DW3x3(out), every conv with SiLU; h = out * expansion; residual when ``shortcut``
    and in == out. [N, C_in, H, W] -> [N, C_out, H, W]."""

    def __init__(self, in_channels, out_channels, shortcut=True, expansion=0.5,
                 large_kernel=False, act="silu"):
        super().__init__()
        mid = 2 * int(out_channels * expansion)
        middle = LargeKernelDW(mid, act=act) if large_kernel \
            else ConvBNAct(mid, mid, 3, groups=mid, act=act)
        self.block = nn.Sequential(
            ConvBNAct(in_channels, in_channels, 3, groups=in_channels, act=act),
            ConvBNAct(in_channels, mid, 1, act=act),
            middle,
            ConvBNAct(mid, out_channels, 1, act=act),
            ConvBNAct(out_channels, out_channels, 3, groups=out_channels, act=act))
        self.residual = shortcut and in_channels == out_channels

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class C2fCIB(C2f):
    """``C2f`` whose units are ``CIB``s (expansion 1.0 inside the unit); ``large_kernel``
    switches their middle depthwise conv to ``LargeKernelDW``. Shapes as ``C2f``."""

    def __init__(self, in_channels, out_channels, num_blocks=1, shortcut=True, expansion=0.5,
                 large_kernel=False, act="silu"):
        self._large_kernel = large_kernel
        super().__init__(in_channels, out_channels, num_blocks, shortcut, expansion, act)

    def _unit(self, shortcut, act):
        return CIB(self.hidden, self.hidden, shortcut, expansion=1.0,
                   large_kernel=self._large_kernel, act=act)


class Attention(nn.Layer):
    """Multi-head self-attention over the H x W positions of a feature map.

    ``num_heads`` heads of ``channels // num_heads`` value channels; queries and keys have
    ``key_ratio`` of that width. One 1x1 conv (BN, no activation) makes q, k, v; a depthwise
    3x3 conv-BN of v is added to the attention output as a positional term; a 1x1 conv-BN
    projects. [N, C, H, W] -> [N, C, H, W].
    """

    def __init__(self, channels, num_heads=8, key_ratio=0.5):
        super().__init__()
        if num_heads < 1 or channels % num_heads:
            raise ConfigError(f"Attention: {channels} channels do not split into {num_heads} "
                              "heads; valid: num_heads >= 1 dividing channels")
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.key_dim = int(self.head_dim * key_ratio)
        self.scale = self.key_dim ** -0.5
        self.qkv = ConvBNAct(channels, channels + 2 * self.key_dim * num_heads, 1, act=None)
        self.proj = ConvBNAct(channels, channels, 1, act=None)
        self.pe = ConvBNAct(channels, channels, 3, groups=channels, act=None)

    def forward(self, x):
        _, c, h, w = x.shape
        qkv = self.qkv(x).reshape([-1, self.num_heads, 2 * self.key_dim + self.head_dim, h * w])
        q, k, v = paddle.split(qkv, [self.key_dim, self.key_dim, self.head_dim], axis=2)
        # [N, heads, HW, HW]: every position attends to every position
        attn = F.softmax(paddle.matmul(q, k, transpose_x=True) * self.scale, axis=-1)
        out = paddle.matmul(v, attn, transpose_y=True).reshape([-1, c, h, w])
        return self.proj(out + self.pe(v.reshape([-1, c, h, w])))


class PSA(nn.Layer):
    """Partial self-attention: a 1x1 conv, half of the channels through ``Attention`` (heads
    of 64 channels) and a 1x1 -> 1x1 feed-forward (2x wide), each residual, the other half
    untouched, then a 1x1 fuse. Input and output channels are equal.
    [N, C, H, W] -> [N, C, H, W]."""

    def __init__(self, channels, expansion=0.5, act="silu"):
        super().__init__()
        self.hidden = int(channels * expansion)
        self.conv1 = ConvBNAct(channels, 2 * self.hidden, 1, act=act)
        self.conv2 = ConvBNAct(2 * self.hidden, channels, 1, act=act)
        self.attn = Attention(self.hidden, num_heads=max(self.hidden // 64, 1), key_ratio=0.5)
        self.ffn = nn.Sequential(ConvBNAct(self.hidden, 2 * self.hidden, 1, act=act),
                                 ConvBNAct(2 * self.hidden, self.hidden, 1, act=None))

    def forward(self, x):
        kept, mixed = paddle.split(self.conv1(x), 2, axis=1)
        mixed = mixed + self.attn(mixed)
        mixed = mixed + self.ffn(mixed)
        return self.conv2(paddle.concat([kept, mixed], axis=1))


def make_divisible(value, divisor=8):
    """Smallest multiple of ``divisor`` >= value (the YOLO width rounding)."""
    return int(math.ceil(value / divisor) * divisor)
