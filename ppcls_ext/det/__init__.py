"""E-ConvNeXt in PaddleDetection (paddledet 2.6.0 on Paddle 3.3.1).

``import ppcls_ext.det`` applies the Paddle 3 compatibility patches (``compat``), registers the
``EConvNeXt`` backbone into PaddleDetection's workspace (config: ``YOLOv3: {backbone:
EConvNeXt}`` and an ``EConvNeXt:`` section) and lets ``pretrain_weights`` take a
classification checkpoint of this project (``pretrain``).
"""
import contextlib
import io
import logging
import sys

try:
    # ppdet prints "Warning: Unable to use JDE/FairMOT/ByteTrack ... install lap/motmetrics/
    # numba" on import: those serve its tracking models, which this project does not install.
    from PIL import ImageFile
    # PIL's default (False) when ppdet's trainer already overwrote the flag before us
    _truncated = ImageFile.LOAD_TRUNCATED_IMAGES if "ppdet.engine.trainer" not in sys.modules \
        else False
    _silenced = io.StringIO()
    with contextlib.redirect_stdout(_silenced):
        import ppdet  # noqa: F401
        import ppdet.engine  # noqa: F401
    # ppdet/engine/trainer.py sets PIL's process-wide LOAD_TRUNCATED_IMAGES = True on import,
    # which would make the classification loader accept truncated JPEGs it is meant to skip.
    # PaddleDetection decodes its training images with cv2, so the PIL flag goes back.
    ImageFile.LOAD_TRUNCATED_IMAGES = _truncated
    # ppdet's loggers bound sys.stdout when created: give them the real one back
    for _logger in logging.Logger.manager.loggerDict.values():
        for _handler in getattr(_logger, "handlers", []):
            if getattr(_handler, "stream", None) is _silenced:
                _handler.setStream(sys.stdout)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "ppcls_ext.det needs PaddleDetection: pip install --no-deps -r requirements-det.txt "
        f"(see README, Quick start) ({exc})") from exc

from . import compat
from .backbone import EConvNeXt, is_classification_state
from .pretrain import patch_load_pretrain_weight

PATCHES_APPLIED = compat.apply_all()
patch_load_pretrain_weight()

__all__ = ["EConvNeXt", "PATCHES_APPLIED", "compat", "is_classification_state"]
