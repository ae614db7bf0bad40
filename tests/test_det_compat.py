"""Each Paddle 3.3.1 patch of ppcls_ext.det.compat on its own: PaddleDetection's code fails
without it (the unpatched function is kept as ``__wrapped__``) and works with it."""
import numpy as np
import paddle
import pytest

pytestmark = pytest.mark.integration  # detection

pytest.importorskip("ppdet")
import ppcls_ext.det  # noqa: E402
from ppcls_ext.det import compat  # noqa: E402

ppcls_ext.det.install()


def test_every_patch_applied_and_idempotent():
    installed = ppcls_ext.det.install()
    assert sorted(n for n in installed if n.startswith(compat.PREFIX)) == \
        sorted(compat.PREFIX + name for name in compat.PATCHES)
    assert ppcls_ext.det.install() == installed  # a second installation changes nothing
    for name in compat.PATCHES:
        assert compat.apply(name) is False  # already applied: not wrapped twice
    from ppdet.modeling.assigners.task_aligned_assigner import TaskAlignedAssigner
    # wrapped once, not twice
    assert not getattr(TaskAlignedAssigner.forward.__wrapped__, "_ppcls_ext_patched", False)


def _assigner_inputs(label_dtype):
    paddle.seed(0)
    batch, anchors, classes = 2, 16, 3
    points = paddle.to_tensor([[x * 8 + 4.0, y * 8 + 4.0] for y in range(4) for x in range(4)])
    pred_bboxes = paddle.concat([points - 6, points + 6], axis=-1).unsqueeze(0).tile([batch, 1, 1])
    gt_bboxes = paddle.to_tensor([[[0., 0., 16., 16.], [12., 12., 30., 30.]],
                                  [[4., 4., 20., 28.], [0., 0., 0., 0.]]])
    gt_labels = paddle.to_tensor([[[1], [2]], [[0], [0]]], dtype=label_dtype)
    pad_gt_mask = paddle.to_tensor([[[1.], [1.]], [[1.], [0.]]])
    return dict(scores=paddle.rand([batch, anchors, classes]), pred_bboxes=pred_bboxes,
                points=points, gt_labels=gt_labels, gt_bboxes=gt_bboxes, pad=pad_gt_mask,
                classes=classes)


def _run_tal(forward, d):
    from ppdet.modeling.assigners.task_aligned_assigner import TaskAlignedAssigner
    return forward(TaskAlignedAssigner(topk=4), d["scores"], d["pred_bboxes"], d["points"],
                   [16], d["gt_labels"], d["gt_bboxes"], d["pad"], d["classes"])


def _run_atss(forward, d):
    from ppdet.modeling.assigners.atss_assigner import ATSSAssigner
    anchors = paddle.concat([d["points"] - 4, d["points"] + 4], axis=-1)
    return forward(ATSSAssigner(topk=4, num_classes=d["classes"]), anchors, [16],
                   d["gt_labels"], d["gt_bboxes"], d["pad"], d["classes"])


@pytest.mark.parametrize("run, cls_path", [
    (_run_tal, "ppdet.modeling.assigners.task_aligned_assigner.TaskAlignedAssigner"),
    (_run_atss, "ppdet.modeling.assigners.atss_assigner.ATSSAssigner")])
def test_assigner_int32_labels(run, cls_path):
    import importlib
    module, name = cls_path.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(TypeError, match="Type promotion only support .* x: int64, y: int32"):
        run(cls.forward.__wrapped__, _assigner_inputs("int32"))
    labels32, bboxes32, scores32 = run(cls.forward, _assigner_inputs("int32"))[:3]
    labels64, bboxes64, scores64 = run(cls.forward.__wrapped__, _assigner_inputs("int64"))[:3]
    assert labels32.dtype == paddle.int32  # the caller's dtype comes back
    np.testing.assert_array_equal(labels32.numpy(), labels64.numpy())
    np.testing.assert_array_equal(bboxes32.numpy(), bboxes64.numpy())
    np.testing.assert_allclose(scores32.numpy(), scores64.numpy())
    assert (labels64.numpy() != 3).any()  # some anchors were assigned a box


def test_visualizer_draws_boxes_on_pillow_10(monkeypatch):
    from PIL import Image, ImageDraw
    from ppdet.utils import visualizer

    assert isinstance(visualizer.ImageDraw, compat._TextsizeDraw)
    image = Image.new("RGB", (64, 64))
    boxes = [dict(image_id=0, category_id=1, bbox=[5, 5, 30, 30], score=0.9)]
    if not hasattr(ImageDraw.ImageDraw, "textsize"):  # Pillow >= 10
        with monkeypatch.context() as m:  # PaddleDetection's draw_bbox on Pillow's ImageDraw
            m.setattr(visualizer, "ImageDraw", ImageDraw)
            with pytest.raises(AttributeError, match="textsize"):
                visualizer.draw_bbox(image.copy(), 0, {1: "one"}, boxes, 0.5)
    drawn = visualizer.draw_bbox(image.copy(), 0, {1: "one"}, boxes, 0.5)
    assert np.asarray(drawn).any()  # box and label were drawn


class _Nms(paddle.nn.Layer):
    def forward(self, boxes, scores):
        from ppdet.modeling import ops
        out, num, _ = ops.multiclass_nms(boxes, scores, score_threshold=0.1, nms_top_k=10,
                                         keep_top_k=5, nms_threshold=0.5)
        return out, num


def test_multiclass_nms_in_a_pir_program():
    from ppdet.modeling import ops
    boxes = paddle.to_tensor([[[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]]])
    scores = paddle.to_tensor([[[0.9, 0.8, 0.7]]])
    eager_out, eager_num = _Nms()(boxes, scores)
    static = paddle.jit.to_static(_Nms(), full_graph=True)
    out, num = static(boxes, scores)
    np.testing.assert_allclose(out.numpy(), eager_out.numpy())
    assert int(num) == int(eager_num) == 2
    if paddle.framework.use_pir_api():
        original = ops.multiclass_nms
        ops.multiclass_nms = original.__wrapped__
        try:
            with pytest.raises(TypeError, match="'%BBoxes' in operator multiclass_nms3 should "
                                                "be one of .*Variable.*but received : Value"):
                paddle.jit.to_static(_Nms(), full_graph=True)(boxes, scores)
        finally:
            ops.multiclass_nms = original


class _Upsample(paddle.nn.Layer):
    def forward(self, x):
        import ppdet.modeling.necks.custom_pan as custom_pan
        return custom_pan.F.interpolate(x, scale_factor=2.)


@pytest.mark.parametrize("dynamic", [False, True])
def test_pan_upsample_equals_nearest_scale_factor(dynamic):
    import ppdet.modeling.necks.custom_pan as custom_pan
    import paddle.nn.functional as F

    x = paddle.rand([1, 3, 5, 7])
    want = F.interpolate(x, scale_factor=2.).numpy()
    np.testing.assert_array_equal(custom_pan.F.interpolate(x, scale_factor=2.).numpy(), want)
    static = paddle.jit.to_static(_Upsample(), full_graph=True,
                                  input_spec=[paddle.static.InputSpec(
                                      [None, 3, None, None] if dynamic else [1, 3, 5, 7])])
    np.testing.assert_array_equal(static(x).numpy(), want)
    ops = {op.name() for op in static.forward.concrete_program.main_program.global_block().ops}
    # no interpolate op even for dynamic H, W (oneDNN and paddle2onnx reject it)
    assert "pd_op.nearest_interp" not in ops and "pd_op.tile" in ops
    assert custom_pan.F.relu is F.relu  # everything else is paddle's functional


class _TwoInputs(paddle.nn.Layer):
    def forward(self, inputs):
        return inputs["image"] * 2  # im_shape is fed but unused


def test_export_prunes_unused_feeds_under_pir():
    import ppdet.engine.trainer as trainer
    from paddle.static import InputSpec

    specs = [{"image": InputSpec([None, 3, 8, 8], name="image"),
              "im_shape": InputSpec([None, 2], name="im_shape")}]
    with compat._full_graph_to_static():
        static = paddle.jit.to_static(_TwoInputs(), input_spec=specs)
    program = static.forward.main_program  # needs full_graph=True on Paddle 3
    pruned = trainer._prune_input_spec(specs, program, static.forward.outputs)
    assert list(pruned[0]) == ["image"]
    assert paddle.jit.to_static is not None and not hasattr(paddle.jit.to_static,
                                                            "__wrapped__")


def test_ppdet_import_leaves_pil_truncated_images_off():
    # ppdet/engine/trainer.py sets ImageFile.LOAD_TRUNCATED_IMAGES = True on import (this
    # module imported ppdet before ppcls_ext.det); the classification loader relies on PIL
    # raising on truncated JPEGs (tests/test_data_bad_input.py)
    from PIL import ImageFile
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
