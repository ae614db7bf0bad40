"""Paddle 3.3.1 fixes for PaddleDetection 2.6.0 (the newest paddledet on the package index).

Each patch wraps one installed function from our side (no installed file is edited), names the
upstream code it stands in for, and is idempotent. ``apply_all()`` runs them; ``import
ppcls_ext.det`` calls it. ``PATCHES`` maps a name to its function so tests can apply one alone.
"""
import functools
import inspect

import paddle

_APPLIED = {}


def _once(name):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper():
            if not _APPLIED.get(name):
                fn()
                _APPLIED[name] = True
            return True
        return wrapper
    return deco


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


@_once("task_aligned_assigner")
def patch_task_aligned_assigner():
    """ppdet/modeling/assigners/task_aligned_assigner.py, TaskAlignedAssigner.forward:
    ``assigned_gt_index + batch_ind * num_max_boxes`` (int64 + int32)."""
    from ppdet.modeling.assigners.task_aligned_assigner import TaskAlignedAssigner
    TaskAlignedAssigner.forward = _with_int64_labels(TaskAlignedAssigner.forward)


@_once("atss_assigner")
def patch_atss_assigner():
    """ppdet/modeling/assigners/atss_assigner.py, ATSSAssigner.forward: the same line
    (PP-YOLOE's static assigner for the first ``static_assigner_epoch`` epochs)."""
    from ppdet.modeling.assigners.atss_assigner import ATSSAssigner
    ATSSAssigner.forward = _with_int64_labels(ATSSAssigner.forward)


PATCHES = {
    "task_aligned_assigner": patch_task_aligned_assigner,
    "atss_assigner": patch_atss_assigner,
}


def apply_all():
    """Apply every patch (idempotent); returns the names applied."""
    for fn in PATCHES.values():
        fn()
    return sorted(PATCHES)
