"""E-ConvNeXt in PaddleDetection (paddledet 2.6.0 on Paddle 3.3.1).

Importing this package changes nothing. :func:`install` (the tools under ``tools/det`` call it)
imports PaddleDetection, applies the Paddle 3 / Pillow 10 compatibility patches (``compat``),
registers the ``EConvNeXt`` backbone into PaddleDetection's workspace (config: ``YOLOv3:
{backbone: EConvNeXt}`` and an ``EConvNeXt:`` section) and YOLOv10 (``architecture:
YOLOv10`` with ``YOLOv10CSPDarkNet`` / ``YOLOv10PAN`` / ``YOLOv10Head``, see
``yolov10.registration``) and lets ``pretrain_weights`` take a classification checkpoint of
this project (``pretrain``), makes PaddleDetection's readers skip unreadable images with a
name and a count instead of hanging (``readers``) and clips predicted boxes to the image
(``postprocess``). Every change is recorded by
``ppcls_ext.patching``: :func:`uninstall` restores PaddleDetection; :func:`installed` is the
context manager the tests use.

Process-wide state that ``install()`` touches, on purpose:

* ``ppdet.engine.trainer`` sets PIL's ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` when it is
  imported; that would make the classification loader accept truncated JPEGs it is meant to
  skip, and PaddleDetection decodes its training images with cv2, so ``install()`` puts the
  flag back to its value before the import (``uninstall()`` leaves it there).
* ppdet prints "Warning: Unable to use JDE/FairMOT/ByteTrack ..." on import (its tracking
  models, which this project does not install): ``install()`` swallows that stdout output and
  re-points the loggers ppdet created meanwhile at the real ``sys.stdout``.
"""
from .. import patching
from .._lazy import lazy_exports
from .ppdet_import import import_ppdet

PREFIX = "det."
# the backbone imports ppdet: only on first use
__getattr__, __dir__, _ = lazy_exports(__name__, globals(), {
    "EConvNeXt": ".backbone", "is_classification_state": ".backbone",
    "compat": (".compat", None)})


def _register_backbone(rec):
    from ppdet.core import workspace

    from .backbone import EConvNeXt

    # ppdet's @register (workspace.global_config entry) and @serializable (a YAML tag)
    rec.setitem(workspace.global_config, EConvNeXt.__name__, workspace.extract_schema(EConvNeXt))
    workspace.serializable(EConvNeXt)


def _register_yolov10(rec):
    from .yolov10 import registration

    registration.register(rec)  # YOLOv10 architecture, backbone, neck, head, assigner, RandomHSV


def _pretrain_weights(rec):
    import ppdet.engine.trainer as trainer
    import ppdet.utils.checkpoint as checkpoint

    from .pretrain import wrap_load_pretrain_weight

    wrapped = wrap_load_pretrain_weight(checkpoint.load_pretrain_weight)
    rec.setattr(checkpoint, "load_pretrain_weight", wrapped)
    rec.setattr(trainer, "load_pretrain_weight", wrapped)


def _yolov10_draw_threshold(rec):
    from .yolov10.export import patch_infer_cfg_threshold

    patch_infer_cfg_threshold(rec)  # a YOLOv10 export writes draw_threshold 0.25


def install():
    """Import PaddleDetection, patch it for Paddle 3, register ``EConvNeXt`` and YOLOv10
    (``ppcls_ext.det.yolov10``; its exports write YOLOv10's score threshold,
    ``yolov10.export``) (idempotent).

    Returns the names of the patches in force. Raises ImportError (one line) without
    PaddleDetection.
    """
    import_ppdet()  # quietly, PIL's flag kept (ppdet_import.py)
    from . import compat

    compat.apply_all()
    from .. import safe_names
    from . import config_loader

    # no code from configs: ppdet's eval sites look names up; its config reader reads data
    patching.apply(PREFIX + "safe_names",
                   lambda rec: safe_names.install(rec, ppcls_prefixes=(), ppdet=True))
    patching.apply(PREFIX + "safe_config", config_loader.patch)
    patching.apply(PREFIX + "register_backbone", _register_backbone)
    patching.apply(PREFIX + "register_yolov10", _register_yolov10)
    patching.apply(PREFIX + "pretrain_weights", _pretrain_weights)
    patching.apply(PREFIX + "yolov10_draw_threshold", _yolov10_draw_threshold)
    from .postprocess import patch_clip_boxes
    from .readers import patch_readers

    patching.apply(PREFIX + "readers", patch_readers)
    patching.apply(PREFIX + "clip_boxes", patch_clip_boxes)
    return patching.names(PREFIX)


def uninstall():
    """Undo everything :func:`install` patched or registered (ppdet stays imported)."""
    patching.undo_all(PREFIX)


def installed():
    """Context manager: ``install()`` inside the block, its new patches undone after it."""
    return patching.applied(install)


__all__ = ["EConvNeXt", "compat", "install", "installed", "is_classification_state",
           "uninstall"]
