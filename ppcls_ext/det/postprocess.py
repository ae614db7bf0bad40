"""Predicted boxes clipped to the image, for every PaddleDetection architecture.

PaddleDetection 2.6 clips boxes to the image only in its two-stage heads
(``BBoxPostProcess.get_pred``: ``origin_shape = im_shape / scale_factor``, x to
``[0, origin_w]``, y to ``[0, origin_h]``); PP-YOLOE's ``post_process`` (and any head built on
``BaseArch``, such as a YOLOv10 head) returns boxes that reach past the border (x2 = 186 on
a 96 px wide image). ``patch_clip_boxes`` (applied by ``ppcls_ext.det.install()``) wraps
``BaseArch.forward`` so that in evaluation,
inference and export, an output ``{"bbox": [N, 6] (class, score, x1, y1, x2, y2),
"bbox_num": [B]}`` has its coordinates clipped with the same rule, per image of the batch.
The ops (cumsum, compare, gather, minimum/maximum) trace into the exported model, so
Paddle Inference and ONNX Runtime get clipped boxes too; ``ppcls_infer.postprocess.clip_boxes``
is the same rule in numpy for ``predict_det.py`` reading an older export. In an export the
clip uses the network input's H, W instead of ``im_shape`` (equal for the fixed-size Resize of
the shipped configs; with keep-ratio resizing plus padding the clip is looser by the padding),
so exported detectors keep PaddleDetection's inputs ``image`` and ``scale_factor``.
"""
def clip_boxes(bbox, bbox_num, im_shape, scale_factor):
    """``bbox`` [N, 6] with rows ordered by image (``bbox_num`` [B] rows each; a single
    placeholder row when nothing was found is allowed) -> the same with x1, x2 in
    ``[0, w]`` and y1, y2 in ``[0, h]``, (h, w) = ``im_shape / scale_factor`` of its image."""
    import paddle

    origin = im_shape.astype("float32") / scale_factor.astype("float32")  # [B, 2]: h, w
    n = paddle.shape(bbox)[0]
    ends = paddle.cumsum(bbox_num.astype("int64"))  # [B]
    rows = paddle.arange(n, dtype="int64").unsqueeze(1)
    image = (rows >= ends.unsqueeze(0)).astype("int64").sum(axis=1)  # image index per row
    image = paddle.minimum(image, paddle.full_like(image, paddle.shape(origin)[0] - 1))
    hw = paddle.gather(origin, image)  # [N, 2]
    h, w = hw[:, 0:1], hw[:, 1:2]
    zero = paddle.zeros_like(w)
    xs = paddle.minimum(paddle.maximum(bbox[:, 2:6:2], zero), w)  # x1, x2
    ys = paddle.minimum(paddle.maximum(bbox[:, 3:6:2], zero), h)  # y1, y2
    return paddle.concat([bbox[:, 0:2], xs[:, 0:1], ys[:, 0:1], xs[:, 1:2], ys[:, 1:2],
                          bbox[:, 6:]], axis=1)


def _clippable(out, inputs):
    return (isinstance(out, dict) and "bbox" in out and "bbox_num" in out
            and isinstance(inputs, dict) and "im_shape" in inputs and "scale_factor" in inputs
            and len(out["bbox"].shape) == 2 and out["bbox"].shape[-1] in (6, 7))


def patch_clip_boxes(rec):
    """``ppcls_ext.patching`` patch: wrap ``BaseArch.forward`` (undone by ``rec``)."""
    from ppdet.modeling.architectures.meta_arch import BaseArch

    original = BaseArch.forward

    # no functools.wraps: its __wrapped__ would make paddle.jit.to_static (which reads the
    # source through inspect.unwrap) convert the original forward and drop the clipping
    def forward(self, inputs):
        import paddle

        out = original(self, inputs)
        if not self.training and _clippable(out, inputs):
            out = dict(out)
            im_shape = inputs["im_shape"]
            if not paddle.in_dynamic_mode() and "image" in inputs:
                # export: the network input's own H, W, so the exported model keeps
                # PaddleDetection's two inputs (image, scale_factor), which PaddleX and other
                # PP-YOLOE runtimes feed; exact for the fixed-size Resize of the shipped configs
                hw = paddle.shape(inputs["image"])[2:4].astype("float32")
                im_shape = paddle.expand(hw.unsqueeze(0), [paddle.shape(inputs["image"])[0], 2])
            out["bbox"] = clip_boxes(out["bbox"], out["bbox_num"], im_shape,
                                     inputs["scale_factor"])
        return out

    forward.__doc__ = original.__doc__
    rec.setattr(BaseArch, "forward", forward)
