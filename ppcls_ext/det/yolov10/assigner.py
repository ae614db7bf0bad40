"""Task-aligned assignment whose box term is CIoU (YOLOv8/YOLOv10), registered into
PaddleDetection as ``CIoUTaskAlignedAssigner``.

TOOD's task-aligned assigner (Feng et al., ICCV 2021; PaddleDetection's
``TaskAlignedAssigner``) with the changes the YOLOv8/YOLOv10 training uses:

* the alignment metric is ``score**alpha * CIoU**beta`` (CIoU clipped at 0) instead of IoU, with
  alpha 0.5, beta 6.0 and 10 candidates per box (one-to-many) or 1 (one-to-one, YOLOv10's
  consistent matching: the same metric, top-1);
* only anchors whose centre lies inside the box are candidates (metric computed there only);
* an anchor claimed by several boxes goes to the box of largest CIoU;
* soft targets: each positive's one-hot label times its metric normalised per box so that the
  box's best anchor gets the box's best CIoU.

The candidate selection, inside-box test and tie-breaking reuse PaddleDetection's assigner
utilities; only the overlap measure differs from the parent class.
"""
import paddle
import paddle.nn.functional as F
from ppdet.modeling.assigners.task_aligned_assigner import TaskAlignedAssigner
from ppdet.modeling.assigners.utils import (check_points_inside_bboxes, compute_max_iou_anchor,
                                            gather_topk_anchors)
from ppdet.modeling.bbox_utils import bbox_iou

__all__ = ["CIoUTaskAlignedAssigner", "pairwise_ciou"]


def pairwise_ciou(gt_bboxes, pred_bboxes, eps=1e-9):
    """CIoU of every box pair: gt [B, n, 4] x pred [B, L, 4] (xyxy) -> [B, n, L]
    (PaddleDetection's ``bbox_iou(..., ciou=True)``, broadcast)."""
    gt = paddle.split(gt_bboxes.unsqueeze(2), 4, axis=-1)
    pred = paddle.split(pred_bboxes.unsqueeze(1), 4, axis=-1)
    return bbox_iou(pred, gt, ciou=True, eps=eps).squeeze(-1)


class CIoUTaskAlignedAssigner(TaskAlignedAssigner):
    """Task-aligned assigner with a CIoU metric (config: ``{topk: 10, alpha: 0.5, beta: 6.0}``;
    ``topk: 1`` is YOLOv10's one-to-one assignment)."""

    def __init__(self, topk=10, alpha=0.5, beta=6.0, eps=1e-9):
        super().__init__(topk=topk, alpha=alpha, beta=beta, eps=eps)

    @paddle.no_grad()
    def forward(self, pred_scores, pred_bboxes, anchor_points, num_anchors_list, gt_labels,
                gt_bboxes, pad_gt_mask, bg_index, gt_scores=None):
        """Assign anchors to boxes.

        Args:
            pred_scores: [B, L, C] class probabilities (after sigmoid).
            pred_bboxes: [B, L, 4] predicted boxes, xyxy, pixels.
            anchor_points: [L, 2] anchor centres, xy, pixels.
            num_anchors_list: anchors per level (unused; the parent's signature).
            gt_labels: [B, n, 1] int; gt_bboxes: [B, n, 4] xyxy pixels;
            pad_gt_mask: [B, n, 1] 1 for a real box, 0 for padding.
            bg_index: label given to unassigned anchors (= C).
        Returns:
            assigned_labels [B, L] (gt_labels' dtype), assigned_bboxes [B, L, 4],
            assigned_scores [B, L, C], mask_positive [B, n, L] (1 where anchor l is assigned
            to box j; at most ``topk`` ones per box, at most one per anchor).
        """
        batch_size, num_anchors, num_classes = pred_scores.shape
        num_max_boxes = gt_bboxes.shape[1]
        label_dtype = gt_labels.dtype
        if num_max_boxes == 0:
            return (paddle.full([batch_size, num_anchors], bg_index, dtype=label_dtype),
                    paddle.zeros([batch_size, num_anchors, 4]),
                    paddle.zeros([batch_size, num_anchors, num_classes]),
                    paddle.zeros([batch_size, 0, num_anchors]))
        # int64 throughout: Paddle 3 does not promote int32 + int64 in the index arithmetic
        gt_labels = gt_labels.astype("int64")
        pad_gt_mask = pad_gt_mask.astype(pred_scores.dtype)

        # candidates: anchor centres inside a real box, [B, n, L]
        in_gts = check_points_inside_bboxes(anchor_points, gt_bboxes) * pad_gt_mask
        overlaps = pairwise_ciou(gt_bboxes, pred_bboxes).clip(min=0) * in_gts
        batch_ind = paddle.arange(batch_size, dtype="int64").unsqueeze(-1)
        labels_ind = paddle.stack([batch_ind.tile([1, num_max_boxes]), gt_labels.squeeze(-1)],
                                  axis=-1)
        box_scores = paddle.gather_nd(pred_scores.transpose([0, 2, 1]), labels_ind) * in_gts
        metrics = box_scores.pow(self.alpha) * overlaps.pow(self.beta)

        in_topk = gather_topk_anchors(metrics, self.topk, topk_mask=pad_gt_mask)
        mask_positive = in_topk * in_gts
        # an anchor claimed by several boxes keeps the one of largest CIoU
        claimed = mask_positive.sum(axis=-2)
        if claimed.max() > 1:
            multiple = (claimed.unsqueeze(1) > 1).tile([1, num_max_boxes, 1])
            mask_positive = paddle.where(multiple, compute_max_iou_anchor(overlaps),
                                         mask_positive)
            claimed = mask_positive.sum(axis=-2)
        gt_index = mask_positive.argmax(axis=-2) + batch_ind * num_max_boxes

        assigned_labels = paddle.gather(gt_labels.flatten(), gt_index.flatten(), axis=0)
        assigned_labels = assigned_labels.reshape([batch_size, num_anchors])
        assigned_labels = paddle.where(claimed > 0, assigned_labels,
                                       paddle.full_like(assigned_labels, bg_index))
        assigned_bboxes = paddle.gather(gt_bboxes.reshape([-1, 4]), gt_index.flatten(), axis=0)
        assigned_bboxes = assigned_bboxes.reshape([batch_size, num_anchors, 4])

        one_hot = F.one_hot(assigned_labels, num_classes + 1)
        keep = [i for i in range(num_classes + 1) if i != bg_index]
        assigned_scores = paddle.index_select(one_hot, paddle.to_tensor(keep), axis=-1)
        # soft targets: metric / (box's best metric) * (box's best CIoU), best over boxes
        metrics = metrics * mask_positive
        best_metric = metrics.max(axis=-1, keepdim=True)
        best_overlap = (overlaps * mask_positive).max(axis=-1, keepdim=True)
        norm = (metrics / (best_metric + self.eps) * best_overlap).max(axis=-2).unsqueeze(-1)
        assigned_scores = assigned_scores * norm
        return (assigned_labels.astype(label_dtype), assigned_bboxes, assigned_scores,
                mask_positive)
