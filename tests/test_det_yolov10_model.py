"""YOLOv10 modules (ppcls_ext/det/yolov10): block shapes, backbone/neck/head wiring, the
assigners, the loss on a tiny batch, NMS-free selection and per-instance settings.

Everything runs at 64-128 px with 2-3 classes.
"""
import numpy as np
import pytest

pytest.importorskip("ppdet")

import paddle  # noqa: E402

import ppcls_ext.det  # noqa: E402

ppcls_ext.det.install()  # Paddle 3 patches, EConvNeXt and YOLOv10 registered
from ppcls_ext.det import yolov10  # noqa: E402
from ppcls_ext.det.yolov10 import blocks  # noqa: E402
from ppcls_ext.det.yolov10.assigner import CIoUTaskAlignedAssigner, pairwise_ciou  # noqa: E402
from ppcls_ext.det.yolov10.backbone import VARIANTS, YOLOv10CSPDarkNet  # noqa: E402
from ppcls_ext.det.yolov10.head import YOLOv10Head, make_anchors, nms_free_select  # noqa: E402
from ppcls_ext.det.yolov10.init import BN_EPSILON, BN_MOMENTUM, set_bn_settings  # noqa: E402
from ppcls_ext.det.yolov10.neck import NECK_VARIANTS, YOLOv10PAN  # noqa: E402

pytestmark = pytest.mark.integration


def _bns(layer):
    return [m for m in layer.sublayers() if isinstance(m, paddle.nn.layer.norm._BatchNormBase)]


@pytest.mark.parametrize("layer, out_shape", [
    (lambda: blocks.ConvBNAct(16, 32, 3, 2), [2, 32, 8, 8]),
    (lambda: blocks.ConvBNAct(16, 32, 1, act=None), [2, 32, 16, 16]),
    (lambda: blocks.Bottleneck(16, 16), [2, 16, 16, 16]),
    (lambda: blocks.C2f(16, 24, 2, shortcut=True), [2, 24, 16, 16]),
    (lambda: blocks.SCDown(16, 32, 3, 2), [2, 32, 8, 8]),
    (lambda: blocks.LargeKernelDW(16), [2, 16, 16, 16]),
    (lambda: blocks.CIB(16, 16, large_kernel=True), [2, 16, 16, 16]),
    (lambda: blocks.C2fCIB(16, 32, 2), [2, 32, 16, 16]),
    (lambda: blocks.Attention(16, num_heads=2), [2, 16, 16, 16]),
    (lambda: blocks.PSA(16), [2, 16, 16, 16]),
    (lambda: blocks.SPPF(16, 24), [2, 24, 16, 16]),
])
def test_block_shapes(layer, out_shape):
    assert layer()(paddle.rand([2, 16, 16, 16])).shape == out_shape


def test_block_structure_follows_the_paper():
    # SCDown: 1x1 channel conv then a depthwise stride-2 conv without activation
    down = blocks.SCDown(16, 32)
    assert down.conv2.conv._groups == 32 and isinstance(down.conv2.act, paddle.nn.Identity)
    # C2f concatenates both halves and every unit's output: (2 + n) * hidden into the fuse
    c2f = blocks.C2f(16, 32, num_blocks=3)
    assert c2f.conv2.conv.weight.shape[1] == (2 + 3) * 16
    # CIB: residual only when shapes allow it; the large kernel is 7x7 depthwise
    assert blocks.CIB(16, 16).residual and not blocks.CIB(16, 32).residual
    assert blocks.CIB(16, 16, large_kernel=True).block[2].large.conv.weight.shape[-1] == 7
    # PSA: heads of 64 channels on half the input
    assert blocks.PSA(256).attn.num_heads == 2
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        blocks.make_activation("gelu")


def test_large_kernel_folds_into_one_conv_with_identical_output():
    paddle.seed(0)
    layer = blocks.LargeKernelDW(8)
    for bn in _bns(layer):  # non-trivial statistics, as after training
        bn._mean.set_value(paddle.rand([8]))
        bn._variance.set_value(paddle.rand([8]) + 0.5)
        bn.weight.set_value(paddle.rand([8]) + 0.5)
    layer.eval()
    x = paddle.rand([1, 8, 12, 12])
    before = layer(x).numpy()
    layer.convert_to_deploy()
    assert not hasattr(layer, "large") and layer.fused is not None
    np.testing.assert_allclose(layer(x).numpy(), before, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("variant, channels", [("n", [64, 128, 256]), ("m", [192, 384, 576]),
                                               ("l", [256, 512, 512]), ("x", [320, 640, 640])])
def test_backbone_variant_channels(variant, channels):
    # make_divisible(min(c, max_channels) * width, 8), as the published n/m/l/x
    backbone = YOLOv10CSPDarkNet(variant)
    assert [s.channels for s in backbone.out_shape] == channels
    assert [s.stride for s in backbone.out_shape] == [8, 16, 32]
    if variant == "n":
        outs = backbone({"image": paddle.rand([1, 3, 64, 64])})
        assert [list(o.shape) for o in outs] == [[1, 64, 8, 8], [1, 128, 4, 4], [1, 256, 2, 2]]
        last = backbone.stages[-1]
        assert isinstance(last[-2], blocks.SPPF) and isinstance(last[-1], blocks.PSA)


def test_neck_keeps_backbone_channels_and_switches_per_level():
    neck = YOLOv10PAN([32, 64, 128], depth_mult=0.33, fpn_cib=[True, False],
                      pan_cib=[False, True])
    assert isinstance(neck.fpn_p4, blocks.C2fCIB) and not isinstance(neck.fpn_p3, blocks.C2fCIB)
    assert not isinstance(neck.pan_p4, blocks.C2fCIB) and isinstance(neck.pan_p5, blocks.C2fCIB)
    assert isinstance(neck.down_p4, blocks.SCDown) and len(neck.fpn_p4.blocks) == 1
    feats = [paddle.rand([2, c, s, s]) for c, s in ((32, 16), (64, 8), (128, 4))]
    outs = neck(feats)
    assert [list(o.shape) for o in outs] == [list(f.shape) for f in feats]
    assert [s.channels for s in neck.out_shape] == [32, 64, 128]
    with pytest.raises(ValueError, match="fpn_cib must be two booleans"):
        YOLOv10PAN([32, 64, 128], fpn_cib=[True])
    assert NECK_VARIANTS["l"][:2] == ([True, False], [True, True])


def test_neck_upsampling_is_the_export_safe_form():
    # the upsampled maps equal F.interpolate's nearest result
    x = paddle.rand([1, 4, 3, 5])
    from ppcls_ext.det.compat import upsample_nearest
    ref = paddle.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    np.testing.assert_array_equal(upsample_nearest(x, 2).numpy(), ref.numpy())


# --- assigners -------------------------------------------------------------------------------

def _grid(size=64, stride=8):
    feats = [paddle.zeros([1, 1, size // stride, size // stride])]
    points, strides = make_anchors(feats, [stride])
    return points * strides  # [L, 2] pixels


def _gt():
    boxes = paddle.to_tensor([[[4., 4., 36., 36.], [30., 20., 60., 60.], [0., 0., 0., 0.]]])
    labels = paddle.to_tensor([[[0], [1], [0]]], dtype="int32")
    mask = paddle.to_tensor([[[1.], [1.], [0.]]])
    return labels, boxes, mask


def _predictions(points, num_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    centres = points.numpy()
    sides = rng.uniform(8, 30, (len(centres), 2))
    boxes = np.concatenate([centres - sides / 2, centres + sides / 2], -1)[None]
    scores = rng.uniform(0, 1, (1, len(centres), num_classes))
    return paddle.to_tensor(scores, "float32"), paddle.to_tensor(boxes, "float32")


@pytest.mark.parametrize("topk", [1, 10])
def test_assigner_positives_inside_boxes_and_per_box_limit(topk):
    points = _grid()
    scores, boxes = _predictions(points)
    labels, gt_boxes, mask = _gt()
    out_labels, out_boxes, out_scores, positive = CIoUTaskAlignedAssigner(topk=topk)(
        scores, boxes, points, None, labels, gt_boxes, mask, bg_index=2)
    per_box = positive.sum(-1).numpy()[0]
    assert per_box[2] == 0  # the padded box gets nothing
    assert (per_box[:2] >= 1).all() and (per_box <= topk).all()
    if topk == 1:  # one-to-one: exactly one anchor per real box
        assert per_box.tolist() == [1, 1, 0]
    assert (positive.sum(-2).numpy() <= 1).all()  # an anchor serves at most one box
    pos = positive.numpy()[0]
    x, y = points.numpy().T
    for j in range(2):
        x1, y1, x2, y2 = gt_boxes.numpy()[0, j]
        inside = (x > x1) & (x < x2) & (y > y1) & (y < y2)
        assert not (pos[j] * ~inside).any()
        assigned = pos[j].astype(bool)
        assert (out_labels.numpy()[0][assigned] == labels.numpy()[0, j, 0]).all()
        np.testing.assert_allclose(out_boxes.numpy()[0][assigned], gt_boxes.numpy()[0, j:j + 1]
                                   .repeat(assigned.sum(), 0))
    assert out_labels.dtype == paddle.int32
    assert (out_labels.numpy()[0][pos.sum(0) == 0] == 2).all()
    # soft targets: only at positives, on the assigned class, at most the box's best CIoU
    assert (out_scores.numpy()[0][pos.sum(0) == 0] == 0).all()
    assert out_scores.numpy().max() <= 1.0


def test_assigner_metric_uses_ciou():
    # two predictions with the same IoU with the box; CIoU prefers the centred one
    gt = paddle.to_tensor([[[0., 0., 20., 20.]]])
    pred = paddle.to_tensor([[[0., 0., 20., 10.], [0., 5., 20., 15.]]])
    ciou = pairwise_ciou(gt, pred).numpy()[0, 0]
    assert ciou[1] > ciou[0]
    # same centre: CIoU = IoU - v * alpha, v = 4 / pi^2 (atan(w1/h1) - atan(w2/h2))^2
    v = 4 / np.pi ** 2 * (np.arctan(2.0) - np.arctan(1.0)) ** 2
    np.testing.assert_allclose(ciou[1], 0.5 - v * v / (1 - 0.5 + v), rtol=1e-5)
    points = paddle.to_tensor([[10., 5.], [10., 10.]])
    scores = paddle.to_tensor([[[0.5], [0.5]]])
    labels = paddle.to_tensor([[[0]]], dtype="int64")
    _, _, _, positive = CIoUTaskAlignedAssigner(topk=1)(
        scores, pred, points, None, labels, gt, paddle.ones([1, 1, 1]), bg_index=1)
    assert positive.numpy()[0, 0].tolist() == [0, 1]


def test_assigner_with_no_boxes_assigns_background():
    points = _grid()
    scores, boxes = _predictions(points)
    labels, _, positive_scores, positive = CIoUTaskAlignedAssigner()(
        scores, boxes, points, None, paddle.zeros([1, 0, 1], "int32"), paddle.zeros([1, 0, 4]),
        paddle.zeros([1, 0, 1]), bg_index=2)
    assert (labels.numpy() == 2).all() and float(positive_scores.sum()) == 0


# --- head: loss, one-to-one branch, NMS-free selection ---------------------------------------

def _tiny_detector(num_classes=3):
    paddle.seed(0)
    backbone = YOLOv10CSPDarkNet("n")
    neck = YOLOv10PAN([s.channels for s in backbone.out_shape], 0.33, *NECK_VARIANTS["n"])
    head = YOLOv10Head([s.channels for s in neck.out_shape], num_classes=num_classes)
    return yolov10.YOLOv10(backbone, neck, head)


def _batch(size=96):
    paddle.seed(1)
    return {"image": paddle.rand([2, 3, size, size]),
            "gt_class": paddle.to_tensor([[[0], [2]], [[1], [0]]], dtype="int32"),
            "gt_bbox": paddle.to_tensor([[[10, 10, 50, 40], [60, 50, 90, 90]],
                                         [[5, 20, 40, 80], [0, 0, 0, 0]]], dtype="float32"),
            "pad_gt_mask": paddle.to_tensor([[[1], [1]], [[1], [0]]], dtype="float32")}


def test_loss_decreases_and_one_to_one_does_not_train_the_neck():
    model = _tiny_detector()
    model.train()
    batch = _batch()
    opt = paddle.optimizer.AdamW(learning_rate=2e-3, parameters=model.parameters())
    history = []
    for step in range(12):
        losses = model(dict(batch))
        assert set(losses) == {"loss", "loss_cls", "loss_iou", "loss_dfl", "loss_o2m", "loss_o2o"}
        np.testing.assert_allclose(float(losses["loss"]),
                                   float(losses["loss_o2m"] + losses["loss_o2o"]), rtol=1e-5)
        if step == 0:
            # the one-to-one loss alone gives the neck no gradient (detached features)
            losses["loss_o2o"].backward()
            assert all(p.grad is None or float(p.grad.abs().sum()) == 0
                       for p in model.neck.parameters())
            assert any(p.grad is not None and float(p.grad.abs().sum()) > 0
                       for p in model.yolo_head.one2one.parameters())
            opt.clear_grad()
            losses = model(dict(batch))
        losses["loss"].backward()
        opt.step()
        opt.clear_grad()
        history.append(float(losses["loss"]))
    assert np.isfinite(history).all()
    assert np.mean(history[-3:]) < 0.6 * history[0], history


def test_loss_weights_scale_the_terms():
    model = _tiny_detector()
    model.train()
    base = model(dict(_batch()))
    model.yolo_head.loss_weight = {"class": 1.0, "iou": 1.0, "dfl": 1.0}
    unit = model(dict(_batch()))
    for key, weight in (("loss_cls", 0.5), ("loss_iou", 7.5), ("loss_dfl", 1.5)):
        np.testing.assert_allclose(float(base[key]), weight * float(unit[key]), rtol=1e-4)


@pytest.mark.parametrize("size, rows", [(64, 84), (96, 189), (160, 300)])
def test_inference_keeps_min_300_anchors(size, rows):
    # anchors: (s/8)^2 + (s/16)^2 + (s/32)^2 = 84 at 64 px, 189 at 96, 525 at 160
    model = _tiny_detector()
    model.eval()
    image = paddle.rand([1, 3, size, size]).tile([2, 1, 1, 1])  # the same image twice
    out = model({"image": image, "im_shape": paddle.to_tensor([[size, size]] * 2, "float32"),
                 "scale_factor": paddle.to_tensor([[1.0, 1.0], [0.5, 2.0]], "float32")})
    assert list(out["bbox"].shape) == [2 * rows, 6]
    assert out["bbox_num"].numpy().tolist() == [rows, rows]
    bbox = out["bbox"].numpy().reshape(2, rows, 6)
    assert set(np.unique(bbox[..., 0])) <= {0.0, 1.0, 2.0}
    assert (np.diff(bbox[..., 1], axis=1) <= 1e-7).all()  # sorted by score
    # scale_factor (y 0.5, x 2.0) maps boxes back to the original image: x / 2, y / 0.5
    np.testing.assert_allclose(bbox[1, :, :2], bbox[0, :, :2])
    np.testing.assert_allclose(bbox[1, :, 2:], bbox[0, :, 2:] / [2.0, 0.5, 2.0, 0.5],
                               rtol=1e-5, atol=1e-4)


def test_nms_free_select_matches_a_numpy_reference():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, (2, 50, 4)).astype("float32")
    boxes = rng.uniform(0, 100, (2, 50, 4)).astype("float32")
    labels, top, picked = nms_free_select(paddle.to_tensor(boxes), paddle.to_tensor(scores), 7)
    for b in range(2):
        anchors = np.argsort(-scores[b].max(-1))[:7]
        pairs = scores[b][anchors].reshape(-1)
        order = np.argsort(-pairs)[:7]
        np.testing.assert_allclose(top.numpy()[b], pairs[order], rtol=1e-6)
        assert labels.numpy()[b].tolist() == (order % 4).tolist()
        np.testing.assert_allclose(picked.numpy()[b], boxes[b][anchors[order // 4]])


# --- settings are per instance ---------------------------------------------------------------

def test_bn_settings_and_init_are_per_instance():
    from ppcls_ext.det.backbone import EConvNeXt
    first = _tiny_detector()
    assert all(bn._epsilon == BN_EPSILON and bn._momentum == BN_MOMENTUM for bn in _bns(first))
    set_bn_settings(first, 1e-5, 0.9)  # a user changing one model ...
    second = _tiny_detector()          # ... does not change the next one
    assert all(bn._epsilon == BN_EPSILON and bn._momentum == BN_MOMENTUM for bn in _bns(second))
    # a transferred backbone keeps its own BatchNorm settings (its statistics were made so)
    backbone = EConvNeXt("mini")
    neck = YOLOv10PAN([s.channels for s in backbone.out_shape], 0.33)
    assert {bn._epsilon for bn in _bns(backbone)} == {1e-5}
    assert {bn._epsilon for bn in _bns(neck)} == {BN_EPSILON}
    # class bias prior: log(5 / C / (640 / stride)^2) for each level
    head = first.yolo_head
    np.testing.assert_allclose(head.one2one.cls[0][-1].bias.numpy(),
                               np.log(5 / 3 / (640 / 8) ** 2), rtol=1e-6)
    np.testing.assert_allclose(head.one2many.box[2][-1].bias.numpy(), 1.0)


def test_variant_overrides_do_not_leak_into_the_table():
    before = {k: dict(v) for k, v in VARIANTS.items()}
    wide = YOLOv10CSPDarkNet("m", width_mult=1.0, max_channels=1024, return_idx=[4])
    assert wide.out_shape[0].channels == 1024
    assert VARIANTS == before
    assert YOLOv10CSPDarkNet("m").out_shape[-1].channels == 576
    with pytest.raises(ValueError, match="unknown YOLOv10 variant 'q'; valid: n, s, m, b, l, x"):
        YOLOv10CSPDarkNet("q")


def test_two_heads_build_their_own_assigners():
    a = YOLOv10Head([16, 32, 64], num_classes=2, o2m_assigner={"topk": 13})
    b = YOLOv10Head([16, 32, 64], num_classes=2)
    assert (a.o2m_assigner.topk, b.o2m_assigner.topk) == (13, 10)
    assert (a.o2o_assigner.topk, b.o2o_assigner.topk) == (1, 1)
    assert a.o2m_assigner.alpha == 0.5 and a.o2m_assigner.beta == 6.0


def test_random_hsv_changes_colours_within_gains():
    from ppcls_ext.det.yolov10.transforms import RandomHSV
    import ppdet.data.transform as transform
    assert transform.RandomHSV is RandomHSV
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    np.random.seed(0)
    out = RandomHSV()({"image": image.copy()})["image"]
    assert out.shape == image.shape and out.dtype == np.uint8 and (out != image).any()
    same = RandomHSV(0, 0, 0)({"image": image.copy()})["image"]
    np.testing.assert_array_equal(same, image)
    as_float = RandomHSV()({"image": image.astype(np.float32)})["image"]
    assert as_float.dtype == np.float32
    with pytest.raises(ValueError, match=r"RandomHSV.sgain must be in \[0, 1\], got 2"):
        RandomHSV(sgain=2)


def test_loss_normaliser_is_the_soft_target_sum_averaged_over_processes(monkeypatch):
    """No configured GPU count: one process divides by its own soft-target sum (at least 1);
    several processes average the all-reduced sum (PP-YOLOE's convention)."""
    from ppcls_ext.det.yolov10 import loss
    scores = paddle.to_tensor([[[0.5, 0.0], [0.25, 0.0]]])
    assert float(loss.normaliser(scores)) == 1.0          # 0.75 -> clipped at 1
    assert float(loss.normaliser(scores * 4)) == 3.0
    monkeypatch.setattr(loss.dist, "get_world_size", lambda: 2)

    def all_reduce(tensor):  # the other process had a sum of 5
        tensor.set_value(tensor + 5.0)
    monkeypatch.setattr(loss.dist, "all_reduce", all_reduce)
    assert float(loss.normaliser(scores * 4)) == (3.0 + 5.0) / 2
