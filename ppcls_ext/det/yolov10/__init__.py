"""YOLOv10 (arXiv 2405.14458) in PaddleDetection 2.6.0, written for this project (Apache-2.0).

Importing this package registers into PaddleDetection's workspace: ``YOLOv10`` (architecture),
``YOLOv10CSPDarkNet`` (backbone), ``YOLOv10PAN`` (neck), ``YOLOv10Head`` (dual head, NMS-free),
``CIoUTaskAlignedAssigner`` and the ``RandomHSV`` sample transform. Import ``ppcls_ext.det``
first (Paddle 3 patches, the E-ConvNeXt backbone).

Modules: ``registration`` (what is registered, and how), ``blocks`` (C2f, SCDown, CIB, C2fCIB,
PSA, ...), ``init`` (initialisation and BatchNorm settings), ``backbone``, ``neck``,
``assigner``, ``loss``, ``head``, ``arch``, ``transforms``. GFLOPs: ``ppcls_ext.det.flops``.
"""
from . import arch, assigner, backbone, head, neck, registration, transforms
from .arch import YOLOv10
from .assigner import CIoUTaskAlignedAssigner
from .backbone import YOLOv10CSPDarkNet
from .head import YOLOv10Head
from .neck import YOLOv10PAN
from .transforms import RandomHSV

# Registration on import until ``ppcls_ext.det.install()`` takes it over (see registration).
registration.register()

__all__ = ["YOLOv10", "YOLOv10CSPDarkNet", "YOLOv10PAN", "YOLOv10Head",
           "CIoUTaskAlignedAssigner", "RandomHSV", "arch", "assigner", "backbone", "head",
           "neck", "registration", "transforms"]
