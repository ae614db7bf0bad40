"""GFLOPs of a YOLOv10 detector in PaddleDetection's convention.

PaddleDetection (and the E-ConvNeXt paper's detection tables) report 2 x the
multiply-accumulates that ``paddle.flops`` counts for backbone + neck + head on one 640 x 640
image, BatchNorm layers included. For YOLOv10 only the one-to-one branch runs at inference, so
only it is counted (the one-to-many branch adds about 6-7 GFLOPs at training time only); box
decoding and the top-k selection are not layers and are not counted.
"""
import contextlib
import io

import paddle
import paddle.nn as nn

__all__ = ["detector_gmacs", "detector_gflops"]


class _Network(nn.Layer):
    """image -> backbone -> neck -> head (inference branch): what the GFLOPs count."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, image):
        detector = self.detector
        return detector.yolo_head(detector.neck(detector.backbone({"image": image})))


def detector_gmacs(detector, size=640):
    """(whole network, backbone) multiply-accumulates in G for one ``size`` x ``size`` image.

    ``detector`` is a ``YOLOv10`` architecture (anything with ``backbone``, ``neck``,
    ``yolo_head``); it is put in eval mode (the one-to-one branch only)."""

    class _Backbone(nn.Layer):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone

        def forward(self, image):
            return self.backbone({"image": image})

    detector.eval()
    with contextlib.redirect_stdout(io.StringIO()):  # paddle.flops prints a summary
        total = paddle.flops(_Network(detector), [1, 3, size, size])
        backbone = paddle.flops(_Backbone(detector.backbone), [1, 3, size, size])
    return total / 1e9, backbone / 1e9


def detector_gflops(detector, size=640):
    """PaddleDetection's GFLOPs: 2 x the network's G multiply-accumulates at ``size``."""
    return 2 * detector_gmacs(detector, size)[0]
