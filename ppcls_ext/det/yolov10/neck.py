"""The YOLOv10 PAN neck, registered into PaddleDetection as ``YOLOv10PAN``.

YOLOv8's path aggregation neck with the YOLOv10 changes (arXiv 2405.14458): SCDown for the
P4 -> P5 downsampling of the bottom-up path, and C2fCIB in place of C2f where the rank-guided
block design put it (per level: ``fpn_cib`` for the top-down P4 and P3 outputs, ``pan_cib``
for the bottom-up P4 and P5 outputs). For inputs C3, C4, C5 (strides 8/16/32):

    top-down    F4 = block(cat(up2(C5), C4))       channels of C4
                F3 = block(cat(up2(F4), C3))       channels of C3     -> output P3
    bottom-up   N4 = block(cat(conv3x3s2(F3), F4)) channels of C4     -> output P4
                N5 = block(cat(SCDown(N4), C5))    channels of C5     -> output P5

Every level keeps the backbone's channel count (no width multiplier); blocks have
``round(3 * depth_mult)`` units (C2f without residual, C2fCIB with). SPPF and PSA are not
part of the neck: in YOLOv10 they close the backbone (``YOLOv10CSPDarkNet`` has them); a
transferred backbone (E-ConvNeXt, ConvNeXt) feeds the neck directly, which is the setting the
E-ConvNeXt paper's GFLOPs rows measure. Upsampling is the oneDNN/ONNX-safe tile form
(``compat.upsample_nearest``), not ``F.interpolate``.
"""
import paddle
import paddle.nn as nn
from ppdet.modeling.shape_spec import ShapeSpec

from ..compat import upsample_nearest
from .blocks import C2f, C2fCIB, SCDown, ConvBNAct
from .init import init_yolo_layer
from ...validation import ConfigError

__all__ = ["YOLOv10PAN", "NECK_VARIANTS"]

# (fpn_cib [P4, P3], pan_cib [P4, P5], large_kernel) of the published variants
NECK_VARIANTS = {
    "n": ([False, False], [False, True], True),
    "s": ([False, False], [False, True], True),
    "m": ([False, False], [True, True], False),
    "b": ([True, False], [True, True], False),
    "l": ([True, False], [True, True], False),
    "x": ([True, False], [True, True], False),
}
DEFAULT_STRIDES = (8, 16, 32)


def _switches(name, value):
    value = list(value)
    if len(value) != 2 or not all(isinstance(v, bool) for v in value):
        raise ConfigError(f"YOLOv10PAN.{name} must be two booleans (one per level), got {value}")
    return value


class YOLOv10PAN(nn.Layer):
    """YOLOv10 PAN neck (config section ``YOLOv10PAN:``).

    Args:
        in_channels: channels of C3, C4, C5 (filled from the backbone's ``out_shape``).
        depth_mult: global depth multiplier (shared key); 3 units scaled.
        fpn_cib: C2fCIB (True) or C2f for the top-down [P4, P3] blocks.
        pan_cib: C2fCIB (True) or C2f for the bottom-up [P4, P5] blocks.
        large_kernel: 7x7 (+3x3) depthwise convs in the CIBs (the n/s variants).
        act: activation.
        strides: strides of the inputs (from ``out_shape`` when the backbone gives them).

    forward([C3, C4, C5]) -> [P3, P4, P5], P_i with C_i's shape.
    """
    __shared__ = ["depth_mult"]

    def __init__(self, in_channels=(256, 512, 1024), depth_mult=1.0, fpn_cib=(True, False),
                 pan_cib=(True, True), large_kernel=False, act="silu", strides=DEFAULT_STRIDES):
        super().__init__()
        if len(in_channels) != 3:
            raise ConfigError(f"YOLOv10PAN needs three input levels (strides 8/16/32), got "
                              f"{len(in_channels)} (set the backbone's return_idx to three stages)")
        c3, c4, c5 = (int(c) for c in in_channels)
        fpn_cib, pan_cib = _switches("fpn_cib", fpn_cib), _switches("pan_cib", pan_cib)
        n = max(round(3 * depth_mult), 1)

        def block(cin, cout, cib):
            if cib:
                return C2fCIB(cin, cout, n, shortcut=True, large_kernel=large_kernel, act=act)
            return C2f(cin, cout, n, shortcut=False, act=act)

        self.fpn_p4 = block(c5 + c4, c4, fpn_cib[0])
        self.fpn_p3 = block(c4 + c3, c3, fpn_cib[1])
        self.down_p3 = ConvBNAct(c3, c3, 3, 2, act=act)
        self.pan_p4 = block(c3 + c4, c4, pan_cib[0])
        self.down_p4 = SCDown(c4, c4, 3, 2, act=act)
        self.pan_p5 = block(c4 + c5, c5, pan_cib[1])
        self._channels = [c3, c4, c5]
        self._strides = list(strides)
        init_yolo_layer(self)

    @classmethod
    def from_config(cls, cfg, input_shape):
        strides = [s.stride for s in input_shape]
        return {"in_channels": [s.channels for s in input_shape],
                "strides": strides if all(strides) else list(DEFAULT_STRIDES)}

    @property
    def out_shape(self):
        return [ShapeSpec(channels=c, stride=s) for c, s in zip(self._channels, self._strides)]

    def forward(self, feats, for_mot=False):
        c3, c4, c5 = feats
        f4 = self.fpn_p4(paddle.concat([upsample_nearest(c5, 2), c4], axis=1))
        p3 = self.fpn_p3(paddle.concat([upsample_nearest(f4, 2), c3], axis=1))
        p4 = self.pan_p4(paddle.concat([self.down_p3(p3), f4], axis=1))
        p5 = self.pan_p5(paddle.concat([self.down_p4(p4), c5], axis=1))
        return [p3, p4, p5]
