"""Image decoding that survives real-world files.

PaddleClas's ``DecodeImage`` hands the bytes to ``cv2.imdecode``, which silently fills a
truncated JPEG with grey and keeps an EXIF-rotated photo on its side when the flag is off.
Here every file goes through PIL, which raises on truncated data, so that a corrupt file is
reported and skipped instead of being trained on; the result is a uint8 HxWx3 array as
PaddleClas's op returns.

Size bound: an image whose header declares more than ``MAX_PIXELS`` (200 million) pixels is
refused from the header, before any pixel is decoded (``ImageTooLargeError``, a
``CorruptImageError``: skipped like a corrupt file). PIL's own guard only warns between its
limit and twice it, so a 360 Mpx 16-bit PNG used to be decoded (about 10 GB).
``check_image_bytes`` applies the same bound for decoders that are not PIL (PaddleDetection's
cv2 ``Decode``, the detection predictor).
"""
import io
import threading

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .cli import InvalidValueError

# Images above this many pixels are refused before decoding; ImageNet's largest image is far
# below it. PIL's own decompression-bomb guard is set to the same number.
MAX_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class CorruptImageError(InvalidValueError):
    """The bytes are not a decodable image (corrupt, truncated or not an image at all)."""


class ImageTooLargeError(CorruptImageError):
    """The header declares more pixels than ``MAX_PIXELS``; nothing was decoded."""


def check_pixels(width, height, source="<bytes>", limit=None):
    """Raise ImageTooLargeError when ``width x height`` exceeds ``limit`` (``MAX_PIXELS``)."""
    limit = MAX_PIXELS if limit is None else limit
    if int(width) * int(height) > limit:
        raise ImageTooLargeError(
            f"{source}: {width}x{height} pixels is above the limit of {limit} pixels "
            "(ppcls_infer.decode.MAX_PIXELS); refused before decoding")


def check_image_bytes(data, source="<bytes>"):
    """(width, height) from the header of an image file's bytes, without decoding pixels.

    Raises ImageTooLargeError above ``MAX_PIXELS`` and CorruptImageError when PIL cannot
    read the header (formats PIL does not know are refused rather than handed on unchecked).
    """
    if not data:
        raise CorruptImageError(f"{source}: empty file")
    try:
        # no warnings.catch_warnings() here: entering it resets Python's once-per-location
        # warning memory, so every other warning of the process (Paddle's per-step ones) would
        # print again after each image. PIL's DecompressionBombWarning (above its own 89 Mpx)
        # may show once; MAX_PIXELS decides.
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{source}: {exc}; refused before decoding") from None
    except UnidentifiedImageError:
        raise CorruptImageError(f"{source}: not an image file PIL can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"{source}: cannot read the image header ({exc})") from None
    check_pixels(width, height, source)
    return width, height


def _to_rgb(img):
    """Any PIL mode -> RGB: grayscale, palette, alpha, CMYK, 16-bit and float images."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / 32-bit gray: PIL's convert("L") clips at 255; rescale the full range.
        # float32 in place: 4 bytes a pixel at most on top of the decoded image
        arr = np.asarray(img, dtype=np.float32)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        arr *= np.float32(255.0 / hi)
        arr += np.float32(0.5)
        arr = np.clip(arr, 0, 255, out=arr).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite transparent pixels on white, as viewers show them, instead of keeping the
        # arbitrary colour stored under alpha 0.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


_TRUNCATION_LOCK = threading.Lock()


def load_strict(img):
    """``img.load()`` with PIL's truncated-image tolerance off, whatever the process set:
    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is one global, and importing ``ppdet.engine`` (plain
    ``import ppdet`` does) turns it on, after which PIL grey-fills a truncated file silently.
    The flag is switched off for the call under a lock and restored. Raises OSError on
    truncated data."""
    if not ImageFile.LOAD_TRUNCATED_IMAGES:
        img.load()
        return
    with _TRUNCATION_LOCK:
        before, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
        try:
            img.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before


def decode_image(data, source="<bytes>"):
    """Bytes of an image file -> uint8 RGB array (H, W, 3), EXIF orientation applied."""
    if not data:
        raise CorruptImageError(f"{source}: empty file")
    try:
        img = Image.open(io.BytesIO(data))  # no catch_warnings: see check_image_bytes
        with img:
            check_pixels(*img.size, source)  # from the header: nothing decoded yet
            load_strict(img)  # forces full decoding: truncated files raise here
            img = ImageOps.exif_transpose(img)
            return np.asarray(_to_rgb(img))
    except UnidentifiedImageError:
        raise CorruptImageError(f"{source}: not an image file PIL can read") from None
    except CorruptImageError:
        raise
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"{source}: cannot decode image ({exc})") from exc
