"""Import PaddleDetection without its import-time side effects on the rest of the process.

``import ppdet`` imports ``ppdet.engine.trainer``, which sets PIL's process-wide
``ImageFile.LOAD_TRUNCATED_IMAGES = True`` (the classification loader must see truncated JPEGs
fail; PaddleDetection decodes its own images with cv2), and prints "Warning: Unable to use
JDE/FairMOT/ByteTrack ..." about its tracking extras, which this project does not install.
:func:`import_ppdet` imports it with that stdout output swallowed, re-points the loggers ppdet
created meanwhile at the real ``sys.stdout`` and puts the PIL flag back. Every module of this
project that needs ppdet imports it through here first.
"""
import contextlib
import functools
import io
import logging
import sys


@functools.cache
def import_ppdet():
    """Import ``ppdet`` and ``ppdet.engine`` (the first call; later calls return the module);
    raises ImportError (one line) without it. If something else imported ppdet before, the
    PIL flag goes back to PIL's default (False)."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES if "ppdet.engine.trainer" not in sys.modules \
        else False  # PIL's default when ppdet's trainer already overwrote it before us
    silenced = io.StringIO()
    try:
        with contextlib.redirect_stdout(silenced):
            import ppdet
            import ppdet.engine  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "ppcls_ext.det needs PaddleDetection: pip install --no-deps -r requirements-det.txt "
            f"({exc})") from exc
    ImageFile.LOAD_TRUNCATED_IMAGES = before
    for logger in list(logging.Logger.manager.loggerDict.values()):
        for handler in getattr(logger, "handlers", []):
            if getattr(handler, "stream", None) is silenced:
                handler.setStream(sys.stdout)
    return ppdet
