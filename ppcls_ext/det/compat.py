"""Paddle 3.3.1 fixes for PaddleDetection 2.6.0 (the newest paddledet on the package index).

Each patch wraps one installed function from our side (no installed file is edited) and names
the upstream code it stands in for. Importing this module patches nothing: ``apply_all()``
(called by ``ppcls_ext.det.install()``) applies them through ``ppcls_ext.patching``, once per
process and recorded, so ``ppcls_ext.det.uninstall()`` restores PaddleDetection. ``PATCHES``
maps a name to its function (``fn(recorder)``) so tests can apply one alone.
"""
import contextlib
import functools
import inspect

import paddle

from .. import patching

PREFIX = "det.compat."


def _with_int64_labels(forward):
    """Run an assigner's ``forward`` with int64 ``gt_labels``; labels come back in the caller's dtype.

    Paddle 3 no longer promotes ``int64 + int32``: the assigners build ``batch_ind`` in
    ``gt_labels``'s dtype (int32 from PP-YOLOE's reader) and add it to an ``argmax`` result
    (int64). With int64 labels both sides agree. Upstream fixed the same line by casting
    ``batch_ind * num_max_boxes`` to the index dtype (PaddleDetection PR #8857, "adapter new
    type promotion rule for Paddle 2.6", after the 2.6.0 release).
    """
    names = list(inspect.signature(forward).parameters)
    pos = names.index("gt_labels") - 1  # position among the args after ``self``

    @functools.wraps(forward)
    def wrapped(self, *args, **kwargs):
        args = list(args)
        labels = kwargs["gt_labels"] if "gt_labels" in kwargs else args[pos]
        dtype = labels.dtype
        if dtype != paddle.int64:
            labels = labels.astype("int64")
            if "gt_labels" in kwargs:
                kwargs["gt_labels"] = labels
            else:
                args[pos] = labels
        out = forward(self, *args, **kwargs)
        if dtype == paddle.int64:
            return out
        assigned_labels, *rest = out
        return (assigned_labels.astype(dtype), *rest)

    wrapped._ppcls_ext_patched = True
    return wrapped


def patch_task_aligned_assigner(rec):
    """ppdet/modeling/assigners/task_aligned_assigner.py, TaskAlignedAssigner.forward:
    ``assigned_gt_index + batch_ind * num_max_boxes`` (int64 + int32)."""
    from ppdet.modeling.assigners.task_aligned_assigner import TaskAlignedAssigner
    rec.setattr(TaskAlignedAssigner, "forward", _with_int64_labels(TaskAlignedAssigner.forward))


def patch_atss_assigner(rec):
    """ppdet/modeling/assigners/atss_assigner.py, ATSSAssigner.forward: the same line
    (PP-YOLOE's static assigner for the first ``static_assigner_epoch`` epochs)."""
    from ppdet.modeling.assigners.atss_assigner import ATSSAssigner
    rec.setattr(ATSSAssigner, "forward", _with_int64_labels(ATSSAssigner.forward))


class _TextsizeDraw:
    """``PIL.ImageDraw`` stand-in for ppdet's visualizer: ``Draw()`` objects get back the
    ``textsize`` method Pillow 10 removed, computed from ``textbbox``."""

    def __init__(self, image_draw):
        self._image_draw = image_draw

    def __getattr__(self, name):
        return getattr(self._image_draw, name)

    def Draw(self, *args, **kwargs):  # noqa: N802 - PIL's name
        draw = self._image_draw.Draw(*args, **kwargs)
        if not hasattr(draw, "textsize"):
            def textsize(text, font=None, *a, **k):
                left, top, right, bottom = draw.textbbox((0, 0), text, font=font, *a, **k)
                return right - left, bottom - top
            draw.textsize = textsize
        return draw


def patch_visualizer_textsize(rec):
    """ppdet/utils/visualizer.py, draw_bbox: ``draw.textsize(text)``, removed in Pillow 10
    (upstream: ``ppdet.utils.compact.imagedraw_textsize_c``, PR #8455). Only the visualizer
    module's ``ImageDraw`` is swapped, not Pillow's."""
    import ppdet.utils.visualizer as visualizer
    if not isinstance(visualizer.ImageDraw, _TextsizeDraw):
        rec.setattr(visualizer, "ImageDraw", _TextsizeDraw(visualizer.ImageDraw))


@contextlib.contextmanager
def _full_graph_to_static():
    original = paddle.jit.to_static

    @functools.wraps(original)
    def to_static(*args, **kwargs):
        kwargs.setdefault("full_graph", True)
        return original(*args, **kwargs)

    paddle.jit.to_static = to_static
    try:
        yield
    finally:
        paddle.jit.to_static = original


def _value_key(value):
    op = value.get_defining_op()
    return None if op is None else (op.id(), value.index())


def _pir_feeds_reaching(program, targets):
    """Names of the ``pd_op.data`` ops of a (flat) PIR program that ``targets`` depend on.

    Values are keyed by (defining op id, result index): PIR overloads ``==`` (it builds an
    op) and its Python wrappers are created afresh on each access (no stable hash).
    """
    needed = {_value_key(t) for t in targets}
    feeds = set()
    for op in reversed(program.global_block().ops):
        if not any((op.id(), i) in needed for i in range(op.num_results())):
            continue
        if op.name() == "pd_op.data":
            feeds.add(op.attrs()["name"])
        needed.update(_value_key(v) for v in op.operands_source())
    return feeds


def _pir_prune_input_spec(original):
    @functools.wraps(original)
    def prune(input_spec, program, targets):
        if not paddle.framework.use_pir_api():
            return original(input_spec, program, targets)
        # A PIR program names its feeds by ``pd_op.data`` ops; keep the specs whose data op
        # the targets depend on (paddle.jit.save refuses a feed that reaches no output).
        fed = _pir_feeds_reaching(program, targets)
        return [{name: spec for name, spec in input_spec[0].items() if name in fed}]
    prune._ppcls_ext_patched = True
    return prune


def patch_export_to_static(rec):
    """ppdet/engine/trainer.py, Trainer._get_infer_cfg_and_input_spec: (1) calls
    ``paddle.jit.to_static(model, input_spec)`` then reads ``forward.main_program``, which
    Paddle 3 only allows for ``full_graph=True`` (its default became SOT); (2) prunes the input
    spec with the legacy ``Program._prune``/``block.var`` API that PIR programs lack.
    Upstream (develop) passes ``full_graph=True`` and reads ``pd_op.data`` ops under PIR."""
    import ppdet.engine.trainer as trainer
    rec.setattr(trainer, "_prune_input_spec", _pir_prune_input_spec(trainer._prune_input_spec))
    original = trainer.Trainer._get_infer_cfg_and_input_spec

    @functools.wraps(original)
    def get_infer_cfg_and_input_spec(self, *args, **kwargs):
        with _full_graph_to_static():
            return original(self, *args, **kwargs)

    rec.setattr(trainer.Trainer, "_get_infer_cfg_and_input_spec", get_infer_cfg_and_input_spec)


def _pir_multiclass_nms(original):
    @functools.wraps(original)
    def multiclass_nms(bboxes, scores, score_threshold, nms_top_k, keep_top_k,
                       nms_threshold=0.3, normalized=True, nms_eta=1.0, background_label=-1,
                       return_index=False, return_rois_num=True, rois_num=None, name=None):
        if not paddle.framework.in_pir_mode():
            return original(bboxes, scores, score_threshold, nms_top_k, keep_top_k,
                            nms_threshold=nms_threshold, normalized=normalized,
                            nms_eta=nms_eta, background_label=background_label,
                            return_index=return_index, return_rois_num=return_rois_num,
                            rois_num=rois_num, name=name)
        out, index, nms_rois_num = paddle._C_ops.multiclass_nms3(
            bboxes, scores, rois_num, score_threshold, nms_top_k, keep_top_k, nms_threshold,
            normalized, nms_eta, background_label)
        return (out, nms_rois_num if return_rois_num else None,
                index if return_index else None)
    multiclass_nms._ppcls_ext_patched = True
    return multiclass_nms


def patch_multiclass_nms_pir(rec):
    """ppdet/modeling/ops.py, multiclass_nms: outside eager mode it appends a legacy
    ``multiclass_nms3`` op through ``LayerHelper``, which a PIR program (Paddle 3's export)
    rejects. Under PIR this calls the PIR op ``paddle._C_ops.multiclass_nms3`` (what upstream
    develop does); eager mode keeps PaddleDetection's code."""
    import ppdet.modeling.ops as ops
    rec.setattr(ops, "multiclass_nms", _pir_multiclass_nms(ops.multiclass_nms))


class _ExactUpsample:
    """``paddle.nn.functional`` for ppdet's custom_pan module whose ``interpolate`` writes
    nearest upsampling of an NCHW map by an integer factor as unsqueeze + tile + flatten: each
    pixel repeated factor x factor times, the same numbers as ``scale_factor``, for static and
    dynamic H, W alike (no shape arithmetic). Anything else goes to Paddle's ``interpolate``."""

    def __init__(self, functional):
        self._functional = functional

    def __getattr__(self, name):
        return getattr(self._functional, name)

    @paddle.jit.not_to_static  # plain Python even inside a to_static'd forward
    def interpolate(self, x, size=None, scale_factor=None, mode="nearest", **kwargs):
        if size is None and scale_factor is not None and mode == "nearest" \
                and float(scale_factor) == int(scale_factor) \
                and kwargs.get("data_format", "NCHW") == "NCHW" and len(x.shape) == 4:
            factor = int(scale_factor)
            y = paddle.unsqueeze(x, [3, 5]).tile([1, 1, 1, factor, 1, factor])
            return paddle.flatten(paddle.flatten(y, 2, 3), 3, 4)  # [N, C, fH, fW]
        return self._functional.interpolate(x, size=size, scale_factor=scale_factor,
                                            mode=mode, **kwargs)


def upsample_nearest(x, factor=2):
    """Nearest upsampling of an NCHW tensor by an integer ``factor``, exported safely.

    The same numbers as ``F.interpolate(x, scale_factor=factor, mode="nearest")``, written as
    unsqueeze + tile + flatten so that Paddle Inference with oneDNN and paddle2onnx
    accept the exported program, static or dynamic H, W (see ``patch_pan_upsample``).
    Shape [N, C, H, W] -> [N, C, factor * H, factor * W]."""
    return _ExactUpsample(paddle.nn.functional).interpolate(x, scale_factor=factor)


def patch_pan_upsample(rec):
    """ppdet/modeling/necks/custom_pan.py, CustomCSPPAN.forward:
    ``F.interpolate(route, scale_factor=2.)``. A PIR program stores that scale as an array of
    doubles, which paddle2onnx 2.1.0 cannot convert ("the 0th elementwise MUST be
    ir::FloatAttribute"), and Paddle Inference's oneDNN executor rejects the exported
    nearest_interp op even with an integer size ("ConvertPirAttribute2RuntimeAttribute not
    support ArrayAttribute<DoubleAttribute>"). Nearest upsampling by an integer factor is
    each pixel repeated, written with unsqueeze, tile and flatten (no interpolate op, also for
    dynamic H, W). Only custom_pan's ``F`` is swapped."""
    import ppdet.modeling.necks.custom_pan as custom_pan
    if not isinstance(custom_pan.F, _ExactUpsample):
        rec.setattr(custom_pan, "F", _ExactUpsample(custom_pan.F))


PATCHES = {
    "task_aligned_assigner": patch_task_aligned_assigner,
    "atss_assigner": patch_atss_assigner,
    "visualizer_textsize": patch_visualizer_textsize,
    "export_to_static": patch_export_to_static,
    "multiclass_nms_pir": patch_multiclass_nms_pir,
    "pan_upsample": patch_pan_upsample,
}


def apply(name):
    """Apply patch ``name`` (once per process, recorded under ``det.compat.<name>``)."""
    return patching.apply(PREFIX + name, PATCHES[name])


def apply_all():
    """Apply every patch (idempotent); returns the names of the patches in force."""
    for name in PATCHES:
        apply(name)
    return sorted(PATCHES)


def undo_all():
    """Restore every function a patch of this module replaced."""
    patching.undo_all(PREFIX)
