"""The stock YOLOv10 backbone (CSP-DarkNet with SCDown, C2fCIB, SPPF and PSA), registered into
PaddleDetection as ``YOLOv10CSPDarkNet``.

Layout (arXiv 2405.14458; YOLOv8's backbone with the paper's efficiency/accuracy changes):

    stem   ConvBNAct 3x3 s2                          64 ch   stride 2
    stage1 ConvBNAct 3x3 s2 -> C2f x3 (residual)     128     stride 4
    stage2 ConvBNAct 3x3 s2 -> C2f x6                256     stride 8
    stage3 SCDown s2 -> C2f or C2fCIB x6             512     stride 16
    stage4 SCDown s2 -> C2f or C2fCIB x3 -> SPPF -> PSA   1024 (capped)  stride 32

Channels are ``make_divisible(min(c, max_channels) * width, 8)``, block counts
``max(round(n * depth), 1)``. The variant table gives the published n/s/m/b/l/x settings;
``return_idx`` picks stages (2, 3, 4 = strides 8/16/32).
"""
import copy

import paddle.nn as nn
from ppdet.modeling.shape_spec import ShapeSpec

from .blocks import C2f, C2fCIB, PSA, SCDown, SPPF, ConvBNAct, make_divisible
from .init import init_yolo_layer
from ...validation import ConfigError

__all__ = ["YOLOv10CSPDarkNet", "VARIANTS"]

# depth, width, max_channels, C2fCIB in stage3 / stage4, large kernel in stage4's CIBs.
# The neck's per-level switches of each variant are in neck.NECK_VARIANTS.
VARIANTS = {
    "n": dict(depth=0.33, width=0.25, max_channels=1024, cib=(False, False), large_kernel=False),
    "s": dict(depth=0.33, width=0.50, max_channels=1024, cib=(False, True), large_kernel=True),
    "m": dict(depth=0.67, width=0.75, max_channels=768, cib=(False, True), large_kernel=False),
    "b": dict(depth=0.67, width=1.00, max_channels=512, cib=(False, True), large_kernel=False),
    "l": dict(depth=1.00, width=1.00, max_channels=512, cib=(False, True), large_kernel=False),
    "x": dict(depth=1.00, width=1.25, max_channels=512, cib=(True, True), large_kernel=False),
}

STEM_CHANNELS = 64
# per stage: output channels before scaling, blocks before scaling, SCDown (else 3x3 conv)
STAGES = ((128, 3, False), (256, 6, False), (512, 6, True), (1024, 3, True))
STRIDES = (2, 4, 8, 16, 32)


def variant_settings(variant):
    """A copy of the settings of variant "n" ... "x" (a dict is returned as a copy)."""
    if isinstance(variant, dict):
        return copy.deepcopy(variant)
    if variant not in VARIANTS:
        raise ConfigError(f"unknown YOLOv10 variant {variant!r}; valid: {', '.join(VARIANTS)}")
    return copy.deepcopy(VARIANTS[variant])


class YOLOv10CSPDarkNet(nn.Layer):
    """YOLOv10 CSP-DarkNet (config section ``YOLOv10CSPDarkNet:``).

    Args:
        variant: "n", "s", "m", "b", "l" or "x" (the published settings; ``depth_mult``,
            ``width_mult``, ``max_channels`` given explicitly override the variant's).
        return_idx: stage indices to return (0 = stem ... 4 = last stage); default strides
            8/16/32.
        act: activation of every unit ("silu").

    forward({'image': [N, 3, H, W]}) -> list of [N, C_i, H / s_i, W / s_i].
    """

    def __init__(self, variant="l", depth_mult=None, width_mult=None, max_channels=None,
                 return_idx=(2, 3, 4), act="silu"):
        super().__init__()
        cfg = variant_settings(variant)
        depth = cfg["depth"] if depth_mult is None else depth_mult
        width = cfg["width"] if width_mult is None else width_mult
        cap = cfg["max_channels"] if max_channels is None else max_channels
        if not all(0 <= i <= len(STAGES) for i in return_idx):
            raise ConfigError(f"YOLOv10CSPDarkNet.return_idx {list(return_idx)}: valid indices "
                              f"are 0..{len(STAGES)}")
        self.return_idx = list(return_idx)

        def channels(c):
            return make_divisible(min(c, cap) * width, 8)

        def blocks(n):
            return max(round(n * depth), 1)

        self.stem = ConvBNAct(3, channels(STEM_CHANNELS), 3, 2, act=act)
        out_channels = [channels(STEM_CHANNELS)]
        stages = []
        for i, (c, n, scdown) in enumerate(STAGES):
            cin, cout = out_channels[-1], channels(c)
            down = SCDown(cin, cout, 3, 2, act=act) if scdown \
                else ConvBNAct(cin, cout, 3, 2, act=act)
            use_cib = i >= 2 and cfg["cib"][i - 2]
            if use_cib:
                body = C2fCIB(cout, cout, blocks(n), shortcut=True,
                              large_kernel=cfg["large_kernel"] and i == 3, act=act)
            else:
                body = C2f(cout, cout, blocks(n), shortcut=True, act=act)
            layers = [down, body]
            if i == len(STAGES) - 1:
                layers += [SPPF(cout, cout, ksize=5, act=act), PSA(cout, act=act)]
            stages.append(nn.Sequential(*layers))
            out_channels.append(cout)
        self.stages = nn.LayerList(stages)
        self._channels = out_channels
        init_yolo_layer(self)

    @property
    def out_shape(self):
        return [ShapeSpec(channels=self._channels[i], stride=STRIDES[i]) for i in self.return_idx]

    def forward(self, inputs):
        x = self.stem(inputs["image"])
        outs = [x] if 0 in self.return_idx else []
        # no enumerate(..., start=1): Paddle's to_static (export) rejects the keyword
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i + 1 in self.return_idx:
                outs.append(x)
        return outs
