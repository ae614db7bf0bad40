"""GFLOPs of a detector in PaddleDetection's convention (PP-YOLOE and YOLOv10).

PaddleDetection's model zoo (and the E-ConvNeXt paper's detection tables) report 2 x the
multiply-accumulates that ``paddle.flops`` counts for backbone + neck + head on one 640 x 640
image, BatchNorm layers included. Box decoding, NMS and YOLOv10's top-k selection are not
layers and are not counted. For YOLOv10 only the one-to-one branch runs at inference, so only
it is counted (the one-to-many branch adds about 6-7 GFLOPs at training time only).
"""
import contextlib
import io

import paddle
import paddle.nn as nn

__all__ = ["detector_gmacs", "detector_gflops"]


class _Network(nn.Layer):
    """image -> backbone -> neck -> head outputs (inference branch, no decoding or NMS)."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, image):
        detector = self.detector
        feats = detector.neck(detector.backbone({"image": image}))
        head = detector.yolo_head
        if hasattr(head, "forward_eval"):  # PPYOLOEHead: scores and distributions
            return head.forward_eval(feats)[:2]
        return head(feats)  # YOLOv10Head in eval mode: the one-to-one branch


class _Backbone(nn.Layer):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, image):
        return self.backbone({"image": image})


def detector_gmacs(detector, size=640, with_backbone=True):
    """(whole network, backbone) multiply-accumulates in G for one ``size`` x ``size`` image;
    the backbone figure is None unless ``with_backbone`` (one forward pass less).

    ``detector``: a PaddleDetection architecture with ``backbone``, ``neck``, ``yolo_head``
    (``YOLOv3``/``PPYOLOE`` with ``PPYOLOEHead``, or ``YOLOv10``); it is put in eval mode."""
    detector.eval()
    head = detector.yolo_head
    if hasattr(head, "eval_size"):
        head.eval_size = None  # PPYOLOEHead: anchors from the input size, not the config's
    with contextlib.redirect_stdout(io.StringIO()):  # paddle.flops prints a summary
        total = paddle.flops(_Network(detector), [1, 3, size, size])
        backbone = paddle.flops(_Backbone(detector.backbone), [1, 3, size, size]) \
            if with_backbone else None
    return total / 1e9, (backbone / 1e9 if with_backbone else None)


def detector_gflops(detector, size=640):
    """PaddleDetection's GFLOPs: 2 x the network's G multiply-accumulates at ``size``."""
    return 2 * detector_gmacs(detector, size, with_backbone=False)[0]
