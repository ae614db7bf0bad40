"""ONE image lister and ONE list-file reader (ppcls_infer.sources) and the tools using them."""
import os

import numpy as np
import paddle
import pytest

from ppcls_infer.sources import (IMAGE_EXTENSIONS, list_images, read_lines, read_list_file)

from sources_helpers import BROKEN, READABLE, image_bytes, make_mixed_folder


@pytest.mark.parametrize("ext", IMAGE_EXTENSIONS)
def test_every_listed_extension_decodes_with_both_decoders(ext):
    import cv2

    from ppcls_infer.decode import decode_image

    data = image_bytes(ext)
    assert decode_image(data, "x" + ext).shape == (16, 20, 3)
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (16, 20, 3)


def test_mixed_folder_lists_every_image_any_case_recursively(tmp_path):
    root = make_mixed_folder(str(tmp_path))
    listing = list_images(root)
    rel = [os.path.relpath(p, root) for p in listing.images]
    assert rel == sorted(READABLE + BROKEN)
    assert [os.path.relpath(p, root) for p in listing.ignored] == ["notes.txt"]


def test_folder_without_images_names_what_it_holds(tmp_path):
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"holds no image .*readme\.md"):
        list_images(str(tmp_path), what="Infer.infer_imgs")
    with pytest.raises(FileNotFoundError, match="Infer.infer_imgs 'nope' does not exist"):
        list_images("nope", what="Infer.infer_imgs")


def test_single_file_is_taken_whatever_its_extension(tmp_path):
    path = tmp_path / "scan.IMG"
    path.write_bytes(image_bytes(".png"))
    assert list_images(str(path)).images == [str(path)]


@pytest.mark.parametrize("encoding,newline,sep", [
    ("utf-8", "\n", " "), ("utf-8-sig", "\n", " "), ("utf-8-sig", "\r\n", "\t"),
    ("utf-8", "\r\n", "  \t "),
])
def test_list_file_variants(tmp_path, encoding, newline, sep):
    lines = ["# a comment", "", f"my photos/cat 1.jpg{sep}3", f"dog.jpg{sep}0", "   ",
             f"  éclair.png{sep}12  "]
    (tmp_path / "list.txt").write_bytes(newline.join(lines).encode(encoding) + b"\n")
    entries = read_list_file(str(tmp_path / "list.txt"), root="R")
    assert [(e.path, e.label) for e in entries] == [
        (os.path.join("R", "my photos/cat 1.jpg"), 3), (os.path.join("R", "dog.jpg"), 0),
        (os.path.join("R", "éclair.png"), 12)]
    assert entries[0].where.endswith("list.txt:3")


def test_list_file_with_delimiter_and_errors(tmp_path):
    (tmp_path / "l.txt").write_text("a b,c.jpg,7\n")
    assert read_list_file(str(tmp_path / "l.txt"), root="", delimiter=",")[0][:2] == \
        ("a b,c.jpg", 7)
    (tmp_path / "t.txt").write_text("a b.jpg\t7\nc.jpg 8\n")  # PaddleClas's delimiter: " "
    assert [e[:2] for e in read_list_file(str(tmp_path / "t.txt"), root="", delimiter=" ")] == \
        [("a b.jpg", 7), ("c.jpg", 8)]
    (tmp_path / "bad.txt").write_text("ok.jpg 1\nno_label.jpg\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: cannot parse 'no_label.jpg'"):
        read_list_file(str(tmp_path / "bad.txt"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9.jpg 1\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt is not UTF-8"):
        read_list_file(str(tmp_path / "latin1.txt"))


def test_inference_list_labels_are_optional_and_paths_keep_spaces(tmp_path):
    root = make_mixed_folder(str(tmp_path / "imgs"))
    (tmp_path / "imgs" / "photo 3").write_bytes(image_bytes(".png"))  # a file named "... 3"
    text = "\ufeffa.jpg\r\nsub dir/f.png\t4\r\nphoto 3\r\nb.PNG 1\r\n"
    (tmp_path / "imgs" / "list.txt").write_text(text, encoding="utf-8", newline="")
    listing = list_images(str(tmp_path / "imgs" / "list.txt"))
    assert [os.path.relpath(p, root) for p in listing.images] == \
        ["a.jpg", "sub dir/f.png", "photo 3", "b.PNG"]
    (tmp_path / "imgs" / "missing.txt").write_text("a.jpg\nnope.jpg 2\n")
    with pytest.raises(FileNotFoundError, match=r"1 of 2 image\(s\) listed .*missing.txt:2: "
                                                r"'.*nope.jpg'"):
        list_images(str(tmp_path / "imgs" / "missing.txt"))


def test_label_map_with_bom_and_crlf(tmp_path):
    from ppcls_infer.postprocess import read_label_file

    (tmp_path / "map.txt").write_bytes("\ufeff0 tabby cat\r\n1 dog\r\n\r\n".encode("utf-8"))
    assert read_label_file(str(tmp_path / "map.txt")) == {0: "tabby cat", 1: "dog"}
    assert read_lines(str(tmp_path / "map.txt")) == [(1, "0 tabby cat"), (2, "1 dog")]


def test_train_list_with_bom_is_read(tmp_path):
    """Case 3: a BOM list was refused with 'do not exist' naming an existing path."""
    from ppcls_ext.engine.data.dataset import ImageNetDataset

    os.makedirs(tmp_path / "my imgs")
    for name in ("a.png", "b.png"):
        (tmp_path / "my imgs" / name).write_bytes(image_bytes(".png"))
    (tmp_path / "train.txt").write_bytes(
        "\ufeffmy imgs/a.png 0\r\nmy imgs/b.png\t1\r\n".encode("utf-8"))
    ds = ImageNetDataset(str(tmp_path), str(tmp_path / "train.txt"),
                         transform_ops=[{"DecodeImage": {}}])
    assert ds.images == [str(tmp_path / "my imgs" / "a.png"), str(tmp_path / "my imgs" / "b.png")]
    assert ds.labels == [0, 1]


def test_image_folder_dataset_uses_the_lister(tmp_path):
    from ppcls_ext.engine.data.dataset import ImageFolderDataset

    for cls, names in {"cat": ["A.JPG", "deep/b.webp"], "dog": ["c.Tiff", "readme.txt"]}.items():
        for name in names:
            path = tmp_path / cls / name
            os.makedirs(path.parent, exist_ok=True)
            path.write_bytes(image_bytes(os.path.splitext(name)[1] or ".png")
                             if name != "readme.txt" else b"x")
    ds = ImageFolderDataset(str(tmp_path), transform_ops=[{"DecodeImage": {}}])
    assert [os.path.relpath(p, tmp_path) for p in ds.images] == \
        ["cat/A.JPG", "cat/deep/b.webp", "dog/c.Tiff"]
    assert ds.labels == [0, 0, 1]


class _MeanModel(paddle.nn.Layer):
    """(N, 3, H, W) -> logits [mean of R, G, B]: a model without weights for the infer path."""

    def forward(self, x):
        return x.mean(axis=[2, 3])


def _infer_config(imgs):
    return {"Infer": {"infer_imgs": imgs, "batch_size": 3,
                      "transforms": [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
                                     {"ResizeImage": {"size": 8}},
                                     {"NormalizeImage": {"scale": 1.0 / 255, "mean": [0, 0, 0],
                                                         "std": [1, 1, 1], "order": ""}},
                                     {"ToCHWImage": None}],
                      "PostProcess": {"name": "Topk", "topk": 1}}}


def test_tools_infer_predicts_all_seven_readable_images_and_names_the_broken(tmp_path,
                                                                            ppcls_warnings):
    """Case 1: the wheel's lister predicted 4 of 7 (b.PNG, d.webp, e.tif vanished)."""
    from ppcls_ext.engine.infer import run_inference

    root = make_mixed_folder(str(tmp_path))
    results = run_inference(_infer_config(root), _MeanModel())
    assert sorted(os.path.relpath(r["file_name"], root) for r in results) == sorted(READABLE)
    text = "\n".join(ppcls_warnings)
    assert "3 of 10 images could not be read" in text
    for name in BROKEN:
        assert name in text
    assert "1 file(s) that are not images left out (notes.txt)" in text


def test_tools_infer_reads_a_list_file_with_bom(tmp_path):
    from ppcls_ext.engine.infer import run_inference

    root = make_mixed_folder(str(tmp_path))
    (tmp_path / "l.txt").write_bytes("\ufeffsub dir/f.png 1\r\nd.webp\r\n".encode("utf-8"))
    results = run_inference(_infer_config(str(tmp_path / "l.txt")), _MeanModel())
    assert [os.path.relpath(r["file_name"], root) for r in results] == ["sub dir/f.png", "d.webp"]
