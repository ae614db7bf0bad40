"""YOLOv10 (arXiv 2405.14458) in PaddleDetection 2.6.0, written for this project (Apache-2.0).

``ppcls_ext.det.install()`` registers into PaddleDetection's workspace (undoably, see
``registration``): ``YOLOv10`` (architecture), ``YOLOv10CSPDarkNet`` (backbone), ``YOLOv10PAN``
(neck), ``YOLOv10Head`` (dual head, NMS-free), ``CIoUTaskAlignedAssigner`` and the
``RandomHSV`` sample transform. Importing this package registers nothing; it imports
PaddleDetection (through ``ppdet_import``, which keeps PIL's truncated-image flag).

Modules: ``registration`` (what is registered, and how), ``blocks`` (C2f, SCDown, CIB, C2fCIB,
PSA, ...), ``init`` (initialisation and BatchNorm settings), ``backbone``, ``neck``,
``assigner``, ``loss``, ``head``, ``arch``, ``transforms``. GFLOPs: ``ppcls_ext.det.flops``.
"""
from ..ppdet_import import import_ppdet

import_ppdet()  # before any ppdet name: its import flips PIL's truncated-image flag
from . import arch, assigner, backbone, head, neck, registration, transforms  # noqa: E402
from .arch import YOLOv10  # noqa: E402
from .assigner import CIoUTaskAlignedAssigner  # noqa: E402
from .backbone import YOLOv10CSPDarkNet  # noqa: E402
from .head import YOLOv10Head  # noqa: E402
from .neck import YOLOv10PAN  # noqa: E402
from .transforms import RandomHSV  # noqa: E402

__all__ = ["YOLOv10", "YOLOv10CSPDarkNet", "YOLOv10PAN", "YOLOv10Head",
           "CIoUTaskAlignedAssigner", "RandomHSV", "arch", "assigner", "backbone", "head",
           "neck", "registration", "transforms"]
