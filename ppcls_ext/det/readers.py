"""PaddleDetection's image reading made to skip unreadable files instead of hanging.

In paddledet 2.6 ``Decode.apply`` (ppdet/data/transform/operators.py) swallows a failed
``cv2.imdecode`` (0-byte file, truncated or foreign bytes: ``None`` or a cv2 error) and keeps
the raw bytes as the "image"; the next line fails on ``bytes.shape``, inside the DataLoader's
reader thread, and ``Trainer.predict``'s loop then waits forever on the killed queue (a
reader-thread traceback and stuck progress; ``tools/det/infer.py`` never returns).

Patches, applied by ``ppcls_ext.det.install()`` through ``patch_readers`` (recorded by
``ppcls_ext.patching``, so ``uninstall()`` restores PaddleDetection; nothing installed is
edited):

* ``Decode.apply``: a file OpenCV cannot decode raises ``UnreadableImageError`` naming it
  (OpenCV stays the decoder, as in PaddleDetection: a truncated JPEG whose header survives
  decodes with grey filling, as there).
* ``Compose.__call__`` (ppdet/data/reader.py): re-raises that error without its multi-line
  "fail to map sample transform" stack; other errors are logged as before.
* ``DetDataset.__getitem__``: an unreadable training or evaluation sample is replaced by the
  next readable one (bounded, deterministic), the file named once at error level and counted
  in ``dataset.unreadable``, as the classification data sets of this project do.
* ``Trainer.predict``: images OpenCV or Pillow cannot decode (``read_error``) are taken out
  before the loader is built, named and counted in one warning (``predict_det.py`` skips the same files), so every
  prediction belongs to its own file; no readable image left is one ``ValueError``.
  ``Trainer.unreadable_images`` holds the skipped paths of the last call.
* ``ppdet.data.source.dataset._is_valid_file``: the image extensions of
  ``ppcls_infer.sources`` (ppdet's own list, ``.jpg .jpeg .png .bmp``, silently dropped a
  ``.webp`` or ``.tif`` image given to ``predict`` or found in a TestDataset folder).
* ``ImageFolder.get_label_list``: the label list of a VOC TestDataset joined to its
  ``dataset_dir``, as ``get_anno`` already does (ppdet returns the bare ``anno_path``, so
  ``--save_results`` with a VOC config failed on "label_list.txt not a file").
"""
import functools
import logging
import os

import numpy as np

from ..validation import DataError, UnreadableImagesError

logger = logging.getLogger("ppcls_ext.det")
MAX_CONSECUTIVE_SKIPS = 50
NAMED = 5


class UnreadableImageError(DataError):
    """An image file OpenCV cannot decode (empty, truncated header, not an image)."""


def decode_bytes(data, source="<image bytes>"):
    """``cv2.imdecode`` as ppdet's ``Decode``: BGR uint8 HxWx3, or None when unreadable.
    The header's pixel count is checked first (``ppcls_infer.decode.check_image_bytes``:
    ``ImageTooLargeError`` before any pixel is decoded)."""
    import cv2

    from ppcls_infer.decode import CorruptImageError, ImageTooLargeError, check_image_bytes

    if not data:
        return None
    try:
        check_image_bytes(data, source)
    except ImageTooLargeError:
        raise
    except CorruptImageError:
        return None  # no readable header: unreadable, as cv2 would say
    try:
        return cv2.imdecode(np.frombuffer(data, dtype="uint8"), cv2.IMREAD_COLOR)
    except cv2.error:
        return None


def read_error(path):
    """Why ``path`` cannot be predicted and drawn, or None when it can: OpenCV must decode it
    (ppdet's ``Decode``) and Pillow must decode it in full (ppdet's ``predict`` draws on a
    PIL image; the project's decoder ``ppcls_infer.decode`` refuses truncated data)."""
    from ppcls_infer.decode import CorruptImageError, decode_image
    from ppcls_infer.sources import IMAGE_EXTENSIONS, is_image_file

    if not is_image_file(path):
        return (f"{path}: {os.path.splitext(path)[1] or 'no extension'} is not an image "
                f"extension ({' '.join(IMAGE_EXTENSIONS)}, any case)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    try:
        if decode_bytes(data, path) is None:
            return f"{path}: cannot decode image (empty, truncated or not an image)"
        decode_image(data, path)
    except CorruptImageError as exc:
        return str(exc)
    return None


def _patch_decode(rec):
    from ppdet.data.transform.operators import Decode

    original = Decode.apply

    @functools.wraps(original)
    def apply(self, sample, context=None):
        path = sample.get("im_file", "<image bytes>")
        if "image" not in sample:  # as the original: read the file, drop its name
            with open(sample["im_file"], "rb") as f:
                sample["image"] = f.read()
            sample.pop("im_file")
        if isinstance(sample["image"], (bytes, bytearray)) and \
                decode_bytes(sample["image"], path) is None:
            raise UnreadableImageError(f"{path}: cannot decode image (empty, truncated or not "
                                       "an image)")
        return original(self, sample, context)

    rec.setattr(Decode, "apply", apply)


def _patch_compose(rec):
    from ppdet.data import reader

    original = reader.Compose.__call__

    # Compose logs every failure with its stack before re-raising: keep that for other
    # errors, silence it for ours (named once by the data set).
    @functools.wraps(original)
    def quiet_call(self, data):
        for f in self.transforms_cls:
            try:
                data = f(data)
            except UnreadableImageError:
                raise
            except Exception:
                # the original's logging and re-raise, from the failing op onwards
                return _original_from(self, f, data, original)
        return data

    rec.setattr(reader.Compose, "__call__", quiet_call)


def _original_from(compose, failing_op, data, original):
    """Re-run ``original`` on a Compose holding the ops from ``failing_op`` on, so the error is
    logged exactly as PaddleDetection logs it."""
    ops = compose.transforms_cls
    rest = object.__new__(type(compose))
    rest.__dict__.update(compose.__dict__)
    rest.transforms_cls = ops[ops.index(failing_op):]
    return original(rest, data)


def _patch_getitem(rec):
    from ppdet.data.source.dataset import DetDataset

    original = DetDataset.__getitem__

    @functools.wraps(original)
    def getitem(self, idx):
        n = max(len(self.roidbs), 1)
        last = None
        for step in range(min(MAX_CONSECUTIVE_SKIPS, n)):
            try:
                return original(self, (idx + step) % n if step else idx)
            except UnreadableImageError as exc:
                last = exc
                _record(self, exc)
        raise UnreadableImagesError(
            f"{min(MAX_CONSECUTIVE_SKIPS, n)} consecutive images from index {idx} could not be "
            f"decoded (last: {last}); check the image files and dataset_dir")

    rec.setattr(DetDataset, "__getitem__", getitem)


def _record(dataset, exc):
    seen = dataset.__dict__.setdefault("unreadable", [])
    if str(exc) in seen:
        return
    seen.append(str(exc))
    logger.error("skipping unreadable image (%d skipped so far, the next image is used in its "
                 "place): %s", len(seen), exc)


def _patch_predict(rec):
    from ppdet.engine import Trainer

    original = Trainer.predict

    @functools.wraps(original)
    def predict(self, images, *args, **kwargs):
        images = list(images)
        errors = {p: read_error(p) for p in images}
        readable = [p for p in images if errors[p] is None]
        skipped = [p for p in images if errors[p] is not None]
        self.unreadable_images = skipped
        if skipped:
            shown = "; ".join(errors[p] for p in skipped[:NAMED])
            logger.warning("skipped %d of %d images that cannot be decoded: %s%s",
                           len(skipped), len(images), shown,
                           "; ..." if len(skipped) > NAMED else "")
        if not readable:
            raise DataError(f"none of the {len(images)} images could be decoded (first: "
                            f"{images[0] if images else None}); give readable images")
        return original(self, readable, *args, **kwargs)

    rec.setattr(Trainer, "predict", predict)


def _patch_label_list(rec):
    from ppdet.data.source.dataset import ImageFolder

    original = ImageFolder.get_label_list

    @functools.wraps(original)
    def get_label_list(self):
        return self.get_anno()

    rec.setattr(ImageFolder, "get_label_list", get_label_list)


def _patch_extensions(rec):
    from ppdet.data.source import dataset

    from ppcls_infer.sources import is_image_file

    def is_valid_file(f, extensions=None):
        return is_image_file(f)

    rec.setattr(dataset, "_is_valid_file", is_valid_file)


def patch_readers(rec):
    """``ppcls_ext.patching`` patch: the reader patches above (undone by ``rec``)."""
    for patch in (_patch_extensions, _patch_label_list, _patch_decode, _patch_compose,
                  _patch_getitem, _patch_predict):
        patch(rec)
