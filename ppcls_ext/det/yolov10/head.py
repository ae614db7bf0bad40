"""The YOLOv10 dual-assignment head with NMS-free inference, registered into PaddleDetection as
``YOLOv10Head``.

arXiv 2405.14458, section 3.1: two copies of a decoupled anchor-free head on the neck's P3/P4/P5.
The one-to-many branch is trained with the task-aligned assignment (top-10) and gives the rich
supervision; the one-to-one branch gets the same metric with top-1 and runs alone at inference,
so no NMS is needed. The one-to-one branch sees the neck's features detached: only the
one-to-many loss trains the backbone and neck. Per level and branch:

    box   ConvBNAct 3x3 (c2) -> ConvBNAct 3x3 (c2) -> Conv 1x1 (4 x reg_max)   (YOLOv8)
    class [DW 3x3 (c_in), 1x1 (c3)] -> [DW 3x3 (c3), 1x1 (c3)] -> Conv 1x1 (C)  (the paper's
          lightweight classification head)

with c2 = max(16, C_P3 / 4, 4 x reg_max) and c3 = max(C_P3, min(C, 100)). Boxes are distances
from anchor centres (grid cell centres, offset 0.5) as expectations over ``reg_max`` bins (DFL).

Inference: per image the 300 anchors with the highest best-class score, then the 300 highest
(anchor, class) scores among them; k = min(300, anchors) so that small inputs work. Output
``bbox [N * k, 6]`` rows [class, score, x1, y1, x2, y2] in original-image pixels and
``bbox_num [N]`` (k each), the interface of PaddleDetection's NMS output. Level outputs are
flattened with ``flatten(2).transpose([0, 2, 1])`` and concatenated over anchors (PP-YOLOE's
form), which Paddle Inference's oneDNN executor accepts.
"""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .assigner import CIoUTaskAlignedAssigner
from .blocks import ConvBNAct
from .init import init_yolo_layer
from .loss import branch_loss
from ...validation import ConfigError

__all__ = ["YOLOv10Head", "nms_free_select"]

DEFAULT_LOSS_WEIGHT = {"class": 0.5, "iou": 7.5, "dfl": 1.5}
DEFAULT_O2M = {"topk": 10, "alpha": 0.5, "beta": 6.0}
DEFAULT_O2O = {"topk": 1, "alpha": 0.5, "beta": 6.0}


class DetectBranch(nn.Layer):
    """One branch (box and class towers for every level). forward(feats) ->
    (cls_logits [N, L, C], reg_dist [N, L, 4 * reg_max])."""

    def __init__(self, in_channels, num_classes, reg_max, act="silu"):
        super().__init__()
        c2 = max(16, in_channels[0] // 4, 4 * reg_max)
        c3 = max(in_channels[0], min(num_classes, 100))
        self.box = nn.LayerList([nn.Sequential(
            ConvBNAct(c, c2, 3, act=act), ConvBNAct(c2, c2, 3, act=act),
            nn.Conv2D(c2, 4 * reg_max, 1)) for c in in_channels])
        self.cls = nn.LayerList([nn.Sequential(
            ConvBNAct(c, c, 3, groups=c, act=act), ConvBNAct(c, c3, 1, act=act),
            ConvBNAct(c3, c3, 3, groups=c3, act=act), ConvBNAct(c3, c3, 1, act=act),
            nn.Conv2D(c3, num_classes, 1)) for c in in_channels])

    def init_bias(self, num_classes, strides, image_size=640):
        """Box bias 1 (distances start at 1 stride); class bias from a prior of 5 objects per
        640-px image spread over the level's cells (the YOLOv8 initialisation)."""
        for box, cls, stride in zip(self.box, self.cls, strides):
            box[-1].bias.set_value(paddle.full_like(box[-1].bias, 1.0))
            prior = math.log(5 / num_classes / (image_size / stride) ** 2)
            cls[-1].bias.set_value(paddle.full_like(cls[-1].bias, prior))

    def forward(self, feats):
        cls_out, reg_out = [], []
        for feat, box, cls in zip(feats, self.box, self.cls):
            cls_out.append(cls(feat).flatten(2).transpose([0, 2, 1]))
            reg_out.append(box(feat).flatten(2).transpose([0, 2, 1]))
        return paddle.concat(cls_out, axis=1), paddle.concat(reg_out, axis=1)


def make_anchors(feats, strides, offset=0.5):
    """Anchor centres in stride units [L, 2] (x, y) and strides [L, 1] for the levels."""
    points, stride_list = [], []
    for feat, stride in zip(feats, strides):
        h, w = feat.shape[2], feat.shape[3]
        if h is None or w is None or h < 0 or w < 0:  # dynamic spatial size under to_static
            shape = paddle.shape(feat)
            h, w = shape[2], shape[3]
        ys, xs = paddle.meshgrid(paddle.arange(end=h, dtype="float32") + offset,
                                 paddle.arange(end=w, dtype="float32") + offset)
        point = paddle.stack([xs, ys], axis=-1).reshape([-1, 2])
        points.append(point)
        stride_list.append(paddle.ones_like(point[:, :1]) * float(stride))
    return paddle.concat(points), paddle.concat(stride_list)


@paddle.jit.not_to_static  # plain Python on the static shape, also inside to_static
def _keep_count(max_det, num_anchors):
    """min(max_det, anchors); max_det when the anchor count is unknown (dynamic H, W at export:
    such a model then needs inputs of at least ~160 px, 300 anchors)."""
    if not isinstance(num_anchors, int) or num_anchors < 0:
        return max_det
    return min(max_det, num_anchors)


def nms_free_select(boxes, scores, max_det=300):
    """YOLOv10's NMS-free selection.

    boxes [N, L, 4], scores [N, L, C] (probabilities) -> (labels [N, k] int64, scores [N, k],
    boxes [N, k, 4]) with k = min(max_det, L): the k anchors of highest best-class score, then
    the k highest (anchor, class) pairs among them (an anchor may give several classes).
    """
    num_classes = scores.shape[2]
    k = _keep_count(max_det, scores.shape[1])
    batch = paddle.shape(scores)[0]
    batch_idx = paddle.arange(batch, dtype="int64").unsqueeze(-1).tile([1, k])

    _, anchor_idx = paddle.topk(scores.max(axis=-1), k, axis=1)           # [N, k]
    index = paddle.stack([batch_idx, anchor_idx], axis=-1)                # [N, k, 2]
    top_scores = paddle.gather_nd(scores, index)                          # [N, k, C]
    top_boxes = paddle.gather_nd(boxes, index)                            # [N, k, 4]

    best, pair_idx = paddle.topk(top_scores.flatten(1), k, axis=1)        # [N, k]
    labels = pair_idx % num_classes
    which = paddle.stack([batch_idx, pair_idx // num_classes], axis=-1)
    return labels, best, paddle.gather_nd(top_boxes, which)


class YOLOv10Head(nn.Layer):
    """YOLOv10 dual head (config section ``YOLOv10Head:``).

    Args:
        in_channels: channels of P3, P4, P5 (from the neck's ``out_shape``).
        num_classes: shared global key.
        fpn_strides: strides of the levels.
        reg_max: bins of the box distributions (16).
        max_det: boxes kept per image at inference (300; fewer when there are fewer anchors).
        loss_weight: {"class", "iou", "dfl"} (0.5 / 7.5 / 1.5).
        o2m_assigner, o2o_assigner: keyword dicts of ``CIoUTaskAlignedAssigner`` for the
            one-to-many (top-10) and one-to-one (top-1) branches; each head builds its own.
        grid_cell_offset: anchor centre within its cell (0.5).

    Training: forward(feats, inputs) -> dict of losses (both branches summed, plus
    ``loss_o2m``/``loss_o2o``). Inference: forward(feats) -> (boxes [N, L, 4] xyxy pixels,
    scores [N, L, C]) of the one-to-one branch; ``post_process`` selects k per image.
    """
    __shared__ = ["num_classes"]

    def __init__(self, in_channels=(256, 512, 1024), num_classes=80, fpn_strides=(8, 16, 32),
                 reg_max=16, max_det=300, loss_weight=None, o2m_assigner=None,
                 o2o_assigner=None, grid_cell_offset=0.5, act="silu"):
        super().__init__()
        if len(in_channels) != len(fpn_strides):
            raise ConfigError(f"YOLOv10Head: {len(in_channels)} input levels but "
                              f"fpn_strides {list(fpn_strides)}")
        self.num_classes = num_classes
        self.fpn_strides = list(fpn_strides)
        self.reg_max = reg_max
        self.max_det = max_det
        self.grid_cell_offset = grid_cell_offset
        self.loss_weight = dict(DEFAULT_LOSS_WEIGHT, **(loss_weight or {}))
        self.o2m_assigner = CIoUTaskAlignedAssigner(**dict(DEFAULT_O2M, **(o2m_assigner or {})))
        self.o2o_assigner = CIoUTaskAlignedAssigner(**dict(DEFAULT_O2O, **(o2o_assigner or {})))
        self.one2many = DetectBranch(in_channels, num_classes, reg_max, act)
        self.one2one = DetectBranch(in_channels, num_classes, reg_max, act)
        init_yolo_layer(self)
        for branch in (self.one2many, self.one2one):
            branch.init_bias(num_classes, self.fpn_strides)
        self.register_buffer("proj", paddle.arange(reg_max, dtype="float32"),
                             persistable=False)

    @classmethod
    def from_config(cls, cfg, input_shape):
        return {"in_channels": [s.channels for s in input_shape]}

    def decode(self, reg_dist, anchor_points):
        """[N, L, 4 * reg_max] distributions -> [N, L, 4] xyxy boxes in stride units."""
        dist = F.softmax(reg_dist.reshape([0, 0, 4, self.reg_max]), axis=-1).matmul(self.proj)
        left_top, right_bottom = paddle.split(dist, 2, axis=-1)
        return paddle.concat([anchor_points - left_top, anchor_points + right_bottom], axis=-1)

    def forward(self, feats, targets=None):
        anchor_points, stride_tensor = make_anchors(feats, self.fpn_strides,
                                                    self.grid_cell_offset)
        if self.training:
            return self.get_loss(feats, anchor_points, stride_tensor, targets)
        cls_logits, reg_dist = self.one2one(feats)
        boxes = self.decode(reg_dist, anchor_points) * stride_tensor
        return boxes, F.sigmoid(cls_logits)

    def _branch_loss(self, branch, feats, assigner, anchor_points, stride_tensor, targets):
        cls_logits, reg_dist = branch(feats)
        pred_bboxes = self.decode(reg_dist, anchor_points)
        assigned = assigner(F.sigmoid(cls_logits).detach(),
                            (pred_bboxes * stride_tensor).detach(),
                            anchor_points * stride_tensor, None, targets["gt_class"],
                            targets["gt_bbox"], targets["pad_gt_mask"], self.num_classes)
        return branch_loss(cls_logits, reg_dist, pred_bboxes, anchor_points, stride_tensor,
                           assigned[:3], self.reg_max, self.loss_weight)

    def get_loss(self, feats, anchor_points, stride_tensor, targets):
        o2m = self._branch_loss(self.one2many, feats, self.o2m_assigner, anchor_points,
                                stride_tensor, targets)
        # the one-to-one branch does not train the backbone and neck
        o2o = self._branch_loss(self.one2one, [f.detach() for f in feats], self.o2o_assigner,
                                anchor_points, stride_tensor, targets)
        losses = {key: o2m[key] + o2o[key] for key in ("loss_cls", "loss_iou", "loss_dfl")}
        losses["loss_o2m"] = o2m["loss"]
        losses["loss_o2o"] = o2o["loss"]
        losses["loss"] = o2m["loss"] + o2o["loss"]
        return losses

    def post_process(self, head_outs, scale_factor):
        """(boxes, scores) of the input size + scale_factor [N, 2] (y, x) ->
        bbox [N * k, 6] (class, score, x1, y1, x2, y2 in original pixels), bbox_num [N]."""
        boxes, scores = head_outs
        labels, top_scores, top_boxes = nms_free_select(boxes, scores, self.max_det)
        scale_y, scale_x = paddle.split(scale_factor, 2, axis=-1)
        scale = paddle.concat([scale_x, scale_y, scale_x, scale_y], axis=-1).reshape([-1, 1, 4])
        top_boxes = top_boxes / scale
        bbox = paddle.concat([labels.astype(top_scores.dtype).unsqueeze(-1),
                              top_scores.unsqueeze(-1), top_boxes], axis=-1)
        bbox_num = paddle.full_like(top_scores[:, 0], top_scores.shape[1], dtype="int32")
        return bbox.reshape([-1, 6]), bbox_num
