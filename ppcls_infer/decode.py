"""Image decoding that survives real-world files.

PaddleClas's ``DecodeImage`` hands the bytes to ``cv2.imdecode``, which silently fills a
truncated JPEG with grey and keeps an EXIF-rotated photo on its side when the flag is off.
Here every file goes through PIL, which raises on truncated data, so that a corrupt file is
reported and skipped instead of being trained on; the result is a uint8 HxWx3 array as
PaddleClas's op returns.
"""
import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Decompression bombs are refused by PIL above this many pixels; ImageNet's largest image is
# far below it.
Image.MAX_IMAGE_PIXELS = 200_000_000


class CorruptImageError(ValueError):
    """The bytes are not a decodable image (corrupt, truncated or not an image at all)."""


def _to_rgb(img):
    """Any PIL mode -> RGB: grayscale, palette, alpha, CMYK, 16-bit and float images."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / 32-bit gray: PIL's convert("L") clips at 255; rescale the full range.
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite transparent pixels on white, as viewers show them, instead of keeping the
        # arbitrary colour stored under alpha 0.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def decode_image(data, source="<bytes>"):
    """Bytes of an image file -> uint8 RGB array (H, W, 3), EXIF orientation applied."""
    if not data:
        raise CorruptImageError(f"{source}: empty file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # forces full decoding: truncated files raise here
            img = ImageOps.exif_transpose(img)
            return np.asarray(_to_rgb(img))
    except UnidentifiedImageError:
        raise CorruptImageError(f"{source}: not an image file PIL can read") from None
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptImageError(f"{source}: cannot decode image ({exc})") from exc
