"""Registering the YOLOv10 classes into PaddleDetection (what ``@register @serializable`` and
``@register_op`` do in PaddleDetection's own modules, done from one function).

``register(rec)`` adds to PaddleDetection's workspace the config sections ``YOLOv10``
(architecture), ``YOLOv10CSPDarkNet``, ``YOLOv10PAN``, ``YOLOv10Head`` and
``CIoUTaskAlignedAssigner``, and the sample transform ``RandomHSV`` (an attribute of
``ppdet.data.transform``, where the reader looks transforms up, and of ``BaseOperator``, as
``register_op`` records it). ``ppcls_ext.det.install()`` calls it with its
``ppcls_ext.patching`` recorder, so ``uninstall()`` undoes every change; without a recorder the
changes are plain assignments. A name PaddleDetection already has is left alone.
"""
from .arch import YOLOv10
from .assigner import CIoUTaskAlignedAssigner
from .backbone import YOLOv10CSPDarkNet
from .head import YOLOv10Head
from .neck import YOLOv10PAN
from .transforms import RandomHSV

__all__ = ["MODULES", "TRANSFORMS", "register"]

MODULES = (YOLOv10, YOLOv10CSPDarkNet, YOLOv10PAN, YOLOv10Head, CIoUTaskAlignedAssigner)
TRANSFORMS = (RandomHSV,)


class _Direct:
    """The recorder interface without a record (plain assignments)."""

    @staticmethod
    def setattr(target, name, value):
        setattr(target, name, value)

    @staticmethod
    def setitem(mapping, key, value):
        mapping[key] = value


def register(rec=None):
    """Register every YOLOv10 module and transform; returns the names registered now."""
    import ppdet.data.transform as transform
    from ppdet.core import workspace
    from ppdet.data.transform.operators import BaseOperator

    rec = rec or _Direct()
    done = []
    for cls in MODULES:
        if cls.__name__ not in workspace.global_config:
            rec.setitem(workspace.global_config, cls.__name__, workspace.extract_schema(cls))
            workspace.serializable(cls)  # a YAML tag, as @serializable
            done.append(cls.__name__)
    for cls in TRANSFORMS:
        if not hasattr(transform, cls.__name__):
            rec.setattr(BaseOperator, cls.__name__, cls)
            rec.setattr(transform, cls.__name__, cls)
            workspace.serializable(cls)
            done.append(cls.__name__)
    return done
