"""Pascal VOC data: the VOCDataSet check, image/XML pairing and VOC -> COCO (no Paddle run)."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from det_helpers import VOC_CLASSES, make_tiny_voc, voc_xml
from ppcls_ext.det.data_check import DatasetError, check_coco_dataset
from ppcls_ext.det.voc import (check_voc_dataset, find_voc_pairs, parse_voc_xml,
                               read_label_list, voc_to_coco)


@pytest.fixture
def voc(tmp_path):
    root = str(tmp_path / "voc")
    counts = make_tiny_voc(root, n_train=4, n_val=2, size=64)
    return root, counts


def _check(root, anno="train.txt", labels="label_list.txt", num_classes=2, **kw):
    return check_voc_dataset(root, None, anno, labels, num_classes, **kw)


def test_sonar_xml_with_bmp_images_passes(voc):
    root, counts = voc
    img = Image.open(os.path.join(root, "JPEGImages", "train_000.bmp"))
    assert (img.format, img.mode) == ("BMP", "RGB")
    ann = parse_voc_xml(os.path.join(root, "Annotations", "train_000.xml"))
    assert (ann["width"], ann["height"], ann["filename"]) == (64, 64, "train_000.bmp")
    summary = _check(root)
    assert (summary["images"], summary["boxes"], summary["categories"]) == (4, counts["train"], 2)
    assert summary["degenerate_skipped"] == 0


def _write_xml(root, stem, objects, size=64, sonar=True):
    with open(os.path.join(root, "Annotations", stem + ".xml"), "w") as f:
        f.write(voc_xml(stem + ".bmp", size, size, objects, sonar=sonar))


def test_degenerate_boxes_skipped_counted_outside_refused(voc):
    root, counts = voc
    _write_xml(root, "train_000", [("red", 5, 5, 30, 30), ("red", 10, 10, 10, 40),
                                   ("green", 70, 5, 90, 20)])
    with pytest.raises(DatasetError, match=r"train_000.xml: box \[70.0, 5.0, 90.0, 20.0\] "
                                           r"\(green\) lies entirely outside the 64x64 image"):
        _check(root)
    _write_xml(root, "train_000", [("red", 5, 5, 30, 30), ("red", 10, 10, 10, 40),
                                   ("green", 20, 33, 40, 33)])
    summary = _check(root)
    assert summary["degenerate_skipped"] == 2
    assert summary["degenerate_examples"] == ["train_000.xml red [10.0, 10.0, 10.0, 40.0]",
                                              "train_000.xml green [20.0, 33.0, 40.0, 33.0]"]


@pytest.mark.parametrize("mutate,message", [
    (lambda r: _write_xml(r, "train_001", [("blue", 1, 1, 9, 9)]),
     r"train_001.xml: class 'blue' is not in the label list \(2 names: \['red', 'green'\]\)"),
    (lambda r: open(os.path.join(r, "Annotations", "train_001.xml"), "w").write("<annotation>"),
     r"train_001.xml: unreadable VOC XML"),
    (lambda r: open(os.path.join(r, "Annotations", "train_001.xml"), "w").write(
        "<annotation><object><name>red</name></object></annotation>"),
     r"train_001.xml: no numeric <size>"),
    (lambda r: os.remove(os.path.join(r, "JPEGImages", "train_002.bmp")),
     r"1 file\(s\) named in .*train.txt are missing, first: .*train.txt:3: "),
    (lambda r: open(os.path.join(r, "train.txt"), "a").write("my img.bmp Annotations/x.xml\n"),
     r"train.txt:5: 'my img.bmp Annotations/x.xml' is not '<image> <xml>' \(2 fields, got 3\)"),
    (lambda r: open(os.path.join(r, "label_list.txt"), "wb").write(b"\xef\xbb\xbfred\ngreen\n"),
     r"starts with a UTF-8 byte-order mark"),
    (lambda r: open(os.path.join(r, "label_list.txt"), "w").write("red\n\ngreen\n"),
     r"label_list.txt: line 2 is blank"),
])
def test_what_vocdataset_would_misread_is_named(voc, mutate, message):
    root, _ = voc
    mutate(root)
    with pytest.raises(DatasetError, match=message):
        _check(root)


def test_num_classes_must_match_the_label_list(voc):
    root, _ = voc
    with pytest.raises(DatasetError, match=r"label_list.txt has 2 categories but num_classes "
                                           r"is 10; set num_classes: 2"):
        _check(root, num_classes=10)
    with pytest.raises(DatasetError, match="set label_list"):
        _check(root, labels=None)


def test_read_label_list_variants(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"cat\r\ndog\r\n\r\n")
    assert read_label_list(str(path)) == ["cat", "dog"]
    path.write_bytes("\ufeffcat\n# note\ndog\n".encode("utf-8"))
    assert read_label_list(str(path), strict=False) == ["cat", "dog"]
    path.write_text("cat\ndog\ncat\n")
    with pytest.raises(DatasetError, match=r"names \['cat'\] more than once"):
        read_label_list(str(path))


def test_pairs_by_stem_side_by_side_and_voc_layout(tmp_path, voc):
    root, _ = voc
    pairs, orphans = find_voc_pairs(root)
    assert len(pairs) == 6 and not orphans
    assert all(os.path.splitext(os.path.basename(i))[0] == os.path.splitext(
        os.path.basename(x))[0] for i, x in pairs)
    flat = tmp_path / "flat dir"
    flat.mkdir()
    Image.new("RGB", (32, 32)).save(flat / "a.BMP")
    (flat / "a.xml").write_text(voc_xml("a.BMP", 32, 32, [("red", 1, 1, 9, 9)]))
    (flat / "b.xml").write_text(voc_xml("b.bmp", 32, 32, []))
    pairs, orphans = find_voc_pairs(str(flat))
    assert [os.path.basename(p) for p in pairs[0]] == ["a.BMP", "a.xml"]
    assert [os.path.basename(p) for p in orphans] == ["b.xml"]


def test_voc_to_coco_matches_the_xml_and_passes_the_coco_check(voc):
    root, counts = voc
    pairs, _ = find_voc_pairs(root)
    train = [p for p in pairs if "train_" in p[0]]
    # one unreadable XML and one degenerate box: skipped and named
    _write_xml(root, "train_003", [("green", 3, 4, 20, 30), ("red", 8, 8, 8, 20)])
    open(os.path.join(root, "Annotations", "train_002.xml"), "w").write("<annotation>")
    lines = []
    coco, report = voc_to_coco(train, labels=list(VOC_CLASSES), log=lines.append)
    assert report["images"] == 3 and len(report["unreadable"]) == 1
    assert "train_002.xml: unreadable VOC XML" in lines[0]
    assert lines[1] == ("skipped 1 box(es) without area or outside the image: "
                        "train_003.xml red [8.0, 8.0, 8.0, 20.0] (degenerate)")
    assert coco["categories"] == [{"supercategory": "none", "id": 1, "name": "red"},
                                  {"supercategory": "none", "id": 2, "name": "green"}]
    last = coco["images"][-1]
    assert last == {"id": 3, "width": 64.0, "height": 64.0, "file_name": "train_003.bmp"}
    ann = [a for a in coco["annotations"] if a["image_id"] == 3]
    assert ann == [{"id": len(coco["annotations"]), "image_id": 3, "category_id": 2,
                    "bbox": [3.0, 4.0, 17.0, 26.0], "area": 442.0, "iscrowd": 0,
                    "ignore": 0, "difficult": 0}]
    with open(os.path.join(root, "train.json"), "w") as f:
        json.dump(coco, f)
    summary = check_coco_dataset(root, "JPEGImages", "train.json", num_classes=2)
    assert summary["images"] == 3 and summary["boxes"] == report["boxes"]
    # class list from the data: sorted names found
    coco, _ = voc_to_coco(train[:1], log=lambda _: None)
    assert [c["name"] for c in coco["categories"]] == sorted(
        {o[0] for o in parse_voc_xml(train[0][1])["objects"]})


def test_bmp_decodes_to_three_channels(voc):
    import cv2
    root, _ = voc
    data = np.fromfile(os.path.join(root, "JPEGImages", "val_000.bmp"), np.uint8)
    assert cv2.imdecode(data, cv2.IMREAD_COLOR).shape == (64, 64, 3)
