"""A folder of mixed image formats and broken files, as users report them (shared by the
lister tests and the predictor tests)."""
import io
import os

import numpy as np
from PIL import Image

PIL_FORMAT = {".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".png": "PNG",
              ".bmp": "BMP", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".ppm": "PPM",
              ".pgm": "PPM", ".pbm": "PPM", ".pnm": "PPM"}
READABLE = ["a.jpg", "b.PNG", "c.JPEG", "d.webp", "e.tif", "g.bmp", "sub dir/f.png"]
BROKEN = ["h.jpg", "i.png", "j.bmp"]  # truncated JPEG, 0-byte PNG, text named .bmp


def image_bytes(ext, size=(20, 16), seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    if ext.lower() in (".pgm", ".pbm"):
        img = img.convert("L")
    buf = io.BytesIO()
    img.save(buf, format=PIL_FORMAT[ext.lower()])
    return buf.getvalue()


def make_mixed_folder(root):
    """The reported folder: 7 readable images in 6 formats/cases (one in a subfolder with a
    space), 3 broken image files, and a non-image file and a hidden file."""
    for i, name in enumerate(READABLE):
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(image_bytes(os.path.splitext(name)[1], seed=i))
    with open(os.path.join(root, "h.jpg"), "wb") as f:
        f.write(image_bytes(".jpg", size=(64, 64))[:200])
    open(os.path.join(root, "i.png"), "wb").close()
    with open(os.path.join(root, "j.bmp"), "w") as f:
        f.write("not an image")
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("ignored")
    with open(os.path.join(root, ".hidden.png"), "wb") as f:
        f.write(image_bytes(".png"))
    return root
