"""Images and preprocessing sizes from strangers stay within memory bounds (threat model in
docs/security.md): a too-large image is refused from its header, before any pixel buffer is
allocated, in every decoder; an ``inference.yml`` cannot ask for a 30000-pixel resize."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from ppcls_infer import decode, preprocess


def _png_claiming(width, height, mode="I;16"):
    """A valid small PNG whose IHDR is rewritten to ``width x height`` (CRC fixed): the
    header says hundreds of megapixels, the file is a few hundred bytes."""
    buf = io.BytesIO()
    Image.new(mode, (4, 4)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Fail the test if PIL starts decoding pixels (allocating the image buffer)."""
    def load(self, *args, **kwargs):
        raise AssertionError(f"pixels of a {self.size} image were decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.parametrize("size", [(19000, 19000), (20000, 10001), (200_000_001, 1)])
def test_decode_refuses_above_max_pixels_from_header(no_pixel_decoding, size):
    """Between PIL's limit and twice it PIL only warns: 19000x19000 (361 Mpx) was decoded."""
    data = _png_claiming(*size)
    assert len(data) < 200
    with pytest.raises(decode.ImageTooLargeError, match="refused before decoding"):
        decode.decode_image(data, "big.png")
    with pytest.raises(decode.ImageTooLargeError, match=str(decode.MAX_PIXELS)):
        decode.check_image_bytes(data, "big.png")


def test_too_large_image_is_skipped_like_a_corrupt_one():
    assert issubclass(decode.ImageTooLargeError, decode.CorruptImageError)


def test_image_at_the_limit_is_not_refused_by_the_size_check():
    side = int(decode.MAX_PIXELS ** 0.5)
    assert decode.check_image_bytes(_png_claiming(side, side), "ok.png") == (side, side)


def test_sixteen_bit_conversion_unchanged():
    arr = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)
    buf = io.BytesIO()
    img = Image.new("I;16", (16, 16))
    img.frombytes(arr.astype("<u2").tobytes())
    img.save(buf, format="PNG")
    out = decode.decode_image(buf.getvalue())
    expected = np.clip(arr / 65535.0 * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert out.shape == (16, 16, 3) and (out[:, :, 0] == expected).all()


@pytest.mark.parametrize("op, kwargs", [
    ("ResizeImage", {"size": 30000}), ("ResizeImage", {"size": [224, 30000]}),
    ("ResizeImage", {"resize_short": 30000}), ("CropImage", {"size": 30000}),
    ("CropImage", {"size": -1}), ("ResizeImage", {"size": "224"}),
])
def test_inference_yml_sizes_bounded(op, kwargs):
    with pytest.raises(ValueError, match=f"at most {preprocess.MAX_SIDE} pixels"):
        preprocess.create_operators([{op: kwargs}])


def test_resize_short_of_a_strip_refused_before_resizing():
    op = preprocess.ResizeImage(resize_short=256, backend="pil")
    strip = np.zeros((1, 20000, 3), np.uint8)
    with pytest.raises(ValueError, match="above 8192 pixels a side"):
        op(strip)
    assert op(np.zeros((300, 400, 3), np.uint8)).shape == (256, 341, 3)


@pytest.mark.integration
def test_det_decode_refuses_from_header(no_pixel_decoding, tmp_path, monkeypatch):
    """PaddleDetection's ``Decode`` (cv2) gets the same header check."""
    import cv2

    import ppcls_ext.det

    ppcls_ext.det.install()
    from ppdet.data.transform.operators import Decode

    def imdecode(*args, **kwargs):
        raise AssertionError("cv2 decoded a refused image")
    monkeypatch.setattr(cv2, "imdecode", imdecode)
    path = tmp_path / "big.png"
    path.write_bytes(_png_claiming(19000, 19000, "RGB"))
    with pytest.raises(decode.ImageTooLargeError, match="big.png"):
        Decode()({"im_file": str(path)})


@pytest.mark.integration
def test_det_decode_still_decodes(tmp_path):
    import ppcls_ext.det

    ppcls_ext.det.install()
    from ppdet.data.transform.operators import Decode

    path = tmp_path / "ok.png"
    Image.new("RGB", (7, 5), (10, 20, 30)).save(path)
    sample = Decode()({"im_file": str(path)})
    assert sample["image"].shape == (5, 7, 3) and tuple(sample["image"][0, 0]) == (10, 20, 30)
