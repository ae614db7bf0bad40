"""The YOLOv8/YOLOv10 detection loss of one head branch: BCE + CIoU + distribution focal loss.

For a branch's raw outputs (class logits, box distributions over ``reg_max`` bins) and the
assigner's soft targets (``assigner.CIoUTaskAlignedAssigner``):

* classification: binary cross-entropy of every (anchor, class) logit against the soft target,
  summed, divided by the sum of the soft targets (at least 1);
* box: (1 - CIoU) of each positive anchor, weighted by its soft target, same divisor;
* DFL (Li et al., "Generalized Focal Loss", NeurIPS 2020; the formula PaddleDetection's
  PP-YOLOE head uses): cross-entropy of the two bins around each side's target distance, weighted
  by proximity, mean over the 4 sides, weighted and divided as the box term.

Weights 0.5 / 7.5 / 1.5 (class / box / DFL) by default. The divisor is averaged over the
processes of a multi-GPU run by an all-reduce (PP-YOLOE's convention), never by a configured GPU
count. The loss is per image batch (not multiplied by the batch size as Ultralytics does for its
SGD recipe); under AdamW the scale makes no difference.
"""
import paddle
import paddle.distributed as dist
import paddle.nn.functional as F
from ppdet.modeling.bbox_utils import bbox2distance, bbox_iou

__all__ = ["distribution_focal_loss", "branch_loss", "normaliser"]


def distribution_focal_loss(pred_dist, target):
    """pred_dist [..., R] logits over bins 0..R-1, target [...] in [0, R-1) -> [...] loss."""
    left = target.floor()
    weight_left = left + 1 - target
    left = left.astype("int64")
    loss_left = F.cross_entropy(pred_dist, left.unsqueeze(-1), reduction="none").squeeze(-1)
    loss_right = F.cross_entropy(pred_dist, (left + 1).unsqueeze(-1),
                                 reduction="none").squeeze(-1)
    return loss_left * weight_left + loss_right * (1 - weight_left)


def normaliser(assigned_scores):
    """Sum of the soft targets, averaged over processes when distributed, at least 1."""
    total = assigned_scores.sum()
    if dist.get_world_size() > 1:
        dist.all_reduce(total)
        total = total / dist.get_world_size()
    return total.clip(min=1.0)


def branch_loss(cls_logits, reg_dist, pred_bboxes, anchor_points, stride_tensor, targets,
                reg_max, weights):
    """Loss of one branch.

    Args:
        cls_logits: [B, L, C]; reg_dist: [B, L, 4 * reg_max];
        pred_bboxes: [B, L, 4] decoded boxes, xyxy, in units of each anchor's stride;
        anchor_points: [L, 2] anchor centres in stride units; stride_tensor: [L, 1];
        targets: (assigned_labels [B, L], assigned_bboxes [B, L, 4] pixels,
            assigned_scores [B, L, C]) from the assigner;
        weights: {"class", "iou", "dfl"}.
    Returns: dict loss_cls, loss_iou, loss_dfl (weighted) and loss (their sum).
    """
    _, assigned_bboxes, assigned_scores = targets
    divisor = normaliser(assigned_scores)
    loss_cls = F.binary_cross_entropy_with_logits(cls_logits, assigned_scores,
                                                  reduction="sum") / divisor

    box_weight = assigned_scores.sum(-1)  # [B, L], zero off the positives
    positive = (box_weight > 0).astype(cls_logits.dtype)
    target_bboxes = assigned_bboxes / stride_tensor
    iou = bbox_iou(paddle.split(pred_bboxes, 4, axis=-1), paddle.split(target_bboxes, 4, axis=-1),
                   ciou=True).squeeze(-1)
    loss_iou = ((1.0 - iou) * box_weight * positive).sum() / divisor

    batch, num_anchors = box_weight.shape
    target_ltrb = bbox2distance(anchor_points.unsqueeze(0).tile([batch, 1, 1]).reshape([-1, 2]),
                                target_bboxes.reshape([-1, 4]))
    target_ltrb = target_ltrb.clip(0, reg_max - 1 - 0.01).reshape([batch, num_anchors, 4])
    dfl = distribution_focal_loss(reg_dist.reshape([batch, num_anchors, 4, reg_max]),
                                  target_ltrb).mean(-1)
    loss_dfl = (dfl * box_weight * positive).sum() / divisor

    out = {"loss_cls": weights["class"] * loss_cls, "loss_iou": weights["iou"] * loss_iou,
           "loss_dfl": weights["dfl"] * loss_dfl}
    out["loss"] = out["loss_cls"] + out["loss_iou"] + out["loss_dfl"]
    return out
