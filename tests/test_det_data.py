"""Digit-scene detection data set (layout, exact boxes, disjoint splits, idempotence, CLI) and
the COCO data set check (each bad input: one clear error or a counted skip)."""
import copy
import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

from ppcls_ext.det.data_check import DatasetError, check_coco_dataset
from ppcls_ext.det.digits_det import (DEFAULTS, INK_THRESHOLD, PRESETS, ink_box,
                                      prepare_digits_det, preset_settings)
from ppcls_ext.engine.data.digits import load_digits_uint8, stratified_split

pytestmark = pytest.mark.integration  # detection

SMALL = dict(train_scenes=12, val_scenes=6, image_size=96, min_digits=2, max_digits=5,
             min_size=16, max_size=36)


def _cli():
    path = os.path.join(os.path.dirname(__file__), "..", "tools", "det", "prepare_digits_det.py")
    spec = importlib.util.spec_from_file_location("prepare_digits_det_cli", path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("det") / "digits_det")
    return out, prepare_digits_det(out, **SMALL)


def _coco(out, split):
    with open(os.path.join(out, "annotations", f"instances_{split}.json")) as f:
        return json.load(f)


def test_layout_and_coco_fields(scenes):
    out, counts = scenes
    assert (counts["train"], counts["val"]) == (12, 6)
    for split in ("train", "val"):
        coco = _coco(out, split)
        assert [c["id"] for c in coco["categories"]] == list(range(1, 11))
        assert [c["name"] for c in coco["categories"]] == [str(i) for i in range(10)]
        assert len(coco["images"]) == counts[split]
        assert len(coco["annotations"]) == counts[f"{split}_boxes"]
        per_image = np.bincount([a["image_id"] for a in coco["annotations"]])
        assert per_image[1:].min() >= 1 and per_image.max() <= 5
        for image in coco["images"]:
            img = Image.open(os.path.join(out, "images", split, image["file_name"]))
            assert img.mode == "L" and img.size == (96, 96) == (image["width"], image["height"])
        sizes = [max(a["bbox"][2:]) for a in coco["annotations"]]
        assert min(sizes) < 25 and max(sizes) > 25  # several sizes
    summary = check_coco_dataset(out, "images/train", "annotations/instances_train.json", 10)
    assert {k: summary[k] for k in ("images", "boxes", "categories", "empty_skipped",
                                    "degenerate_skipped")} == {
        "images": 12, "boxes": counts["train_boxes"], "categories": 10, "empty_skipped": 0,
        "degenerate_skipped": 0}


def test_boxes_hold_the_ink_exactly(scenes):
    out, _ = scenes
    coco = _coco(out, "val")
    pixels = np.asarray(Image.open(os.path.join(out, "images", "val", "00000.png")))
    boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == 1]
    inside = np.zeros(pixels.shape, bool)
    for x, y, w, h in boxes:
        assert 0 <= x and 0 <= y and x + w <= 96 and y + h <= 96
        inside[int(np.floor(y)):int(np.ceil(y + h)), int(np.floor(x)):int(np.ceil(x + w))] = True
        # the box is tight: ink reaches each of its four edges (the upsampling softens the
        # outermost source pixel's half cell, hence half the threshold within 3 px)
        crop = pixels[int(y):int(np.ceil(y + h)), int(x):int(np.ceil(x + w))] >= INK_THRESHOLD / 2
        assert crop[:3].any() and crop[-3:].any() and crop[:, :3].any() and crop[:, -3:].any()
    # no bright pixel outside every box (bicubic ringing stays faint)
    assert (pixels[~inside] < 2 * INK_THRESHOLD).all()


def test_ink_box_scales_the_source_ink():
    digit = np.zeros((8, 8), np.uint8)
    digit[2:7, 3:5] = 255
    digit[0, 0] = INK_THRESHOLD - 1  # faint: not ink
    assert ink_box(digit, 10, 20, 16) == [16.0, 24.0, 4.0, 10.0]
    assert ink_box(np.zeros((8, 8), np.uint8), 0, 0, 8) is None


def test_train_and_val_use_disjoint_digit_images(scenes, monkeypatch):
    import ppcls_ext.det.digits_det as module

    images, labels = load_digits_uint8()
    train_pool, val_pool = stratified_split(labels, 0.2, 0)  # the classifier's split
    assert not set(train_pool) & set(val_pool)
    drawn = []
    real = module.compose_scene

    def spy(rng, images, labels, pool, *args, **kwargs):
        drawn.append(tuple(pool))
        return real(rng, images, labels, pool, *args, **kwargs)

    monkeypatch.setattr(module, "compose_scene", spy)
    module.prepare_digits_det(str(scenes[0]) + "_spy", **SMALL)
    assert set(drawn) == {tuple(train_pool), tuple(val_pool)}


def test_deterministic_idempotent_cli(scenes, tmp_path, capsys):
    out, counts = scenes
    cli = _cli()
    again = str(tmp_path / "again")
    args = ["--out", again] + [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]
    first = cli.main(args)
    assert first["written"] == 12 + 6 + 3
    for rel in ("annotations/instances_train.json", "annotations/instances_val.json",
                "images/val/00003.png", "label_list.txt"):
        with open(os.path.join(out, rel), "rb") as a, open(os.path.join(again, rel), "rb") as b:
            assert a.read() == b.read()
    stamp = os.stat(os.path.join(again, "images/train/00000.png")).st_mtime_ns
    assert cli.main(args)["written"] == 0
    assert os.stat(os.path.join(again, "images/train/00000.png")).st_mtime_ns == stamp
    cli.main(args[:1] + [again, "--train-scenes=5"] + args[3:])  # a smaller set: no leftovers
    assert sorted(os.listdir(os.path.join(again, "images", "train")))[-1] == "00004.png"
    assert "12 train" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["--out", again, "--min-size", "50", "--max-size", "40"])
    assert "min_size <= max_size" in capsys.readouterr().err


def test_presets_change_the_generator_settings(tmp_path, capsys):
    assert preset_settings() == DEFAULTS
    large = preset_settings("large")
    assert (large["image_size"], large["max_digits"], large["min_size"]) == (256, 3, 64)
    assert preset_settings("large", train_scenes=7)["train_scenes"] == 7  # flags override
    for name in PRESETS:  # every preset is a valid setting
        s = preset_settings(name)
        assert 1 <= s["min_digits"] <= s["max_digits"]
        assert 8 <= s["min_size"] <= s["max_size"] <= s["image_size"]
    with pytest.raises(ValueError, match="unknown preset 'huge'; valid: default, large, dense"):
        preset_settings("huge")
    with pytest.raises(TypeError, match="unknown settings \\['digits'\\]"):
        preset_settings("large", digits=3)
    # the command line: --preset, a flag overriding one of its values
    out = str(tmp_path / "large")
    counts = _cli().main(["--out", out, "--preset", "large", "--train-scenes", "6",
                          "--val-scenes", "3"])
    assert (counts["train"], counts["val"]) == (6, 3)
    coco = _coco(out, "train")
    assert {(i["width"], i["height"]) for i in coco["images"]} == {(256, 256)}
    per_image = np.bincount([a["image_id"] for a in coco["annotations"]])
    assert per_image.max() <= 3 and min(max(a["bbox"][2:]) for a in coco["annotations"]) > 30
    assert "(preset large)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _cli().main(["--out", out, "--preset", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err


# ---- bad inputs -------------------------------------------------------------------------

def _write(tmp_path, coco, images=("a.png", "b.png")):
    (tmp_path / "img").mkdir(exist_ok=True)
    for name in images:
        Image.new("L", (64, 48)).save(tmp_path / "img" / name)
    (tmp_path / "ann.json").write_text(json.dumps(coco))
    return str(tmp_path), "img", "ann.json"


GOOD = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48},
                   {"id": 2, "file_name": "b.png", "width": 64, "height": 48}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 3, "bbox": [4, 5, 20, 30],
                         "area": 600, "iscrowd": 0},
                        {"id": 8, "image_id": 2, "category_id": 1, "bbox": [40, 10, 24, 38],
                         "area": 912, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "x"}, {"id": 3, "name": "y"}]}


def _bad(**change):
    coco = copy.deepcopy(GOOD)
    for key, value in change.items():
        coco[key] = value
    return coco


def test_good_set_passes(tmp_path):
    assert check_coco_dataset(*_write(tmp_path, GOOD), num_classes=2) == {
        "images": 2, "boxes": 2, "categories": 2, "empty_skipped": 0, "degenerate_skipped": 0,
        "degenerate_examples": [], "crowd_skipped": 0, "past_border": 0}


def test_missing_annotation_file(tmp_path):
    with pytest.raises(DatasetError, match=r"annotation file .*nope\.json' does not exist"):
        check_coco_dataset(str(tmp_path), "img", "nope.json", 2)
    (tmp_path / "broken.json").write_text("{\"images\": [")
    with pytest.raises(DatasetError, match="not readable JSON"):
        check_coco_dataset(str(tmp_path), "img", "broken.json", 2)


def test_image_without_boxes_is_a_counted_skip(tmp_path):
    coco = _bad(annotations=GOOD["annotations"][:1])
    assert check_coco_dataset(*_write(tmp_path, coco), num_classes=2)["empty_skipped"] == 1
    assert check_coco_dataset(*_write(tmp_path, coco), 2, allow_empty=True)["empty_skipped"] == 0
    with pytest.raises(DatasetError, match="no image with a box"):
        check_coco_dataset(*_write(tmp_path, _bad(annotations=[])), num_classes=2)


def test_box_outside_the_image(tmp_path):
    """Entirely outside: refused (cannot be trained; often xyxy for xywh). Partly outside:
    trained as given, as PaddleDetection does, and counted."""
    anns = copy.deepcopy(GOOD["annotations"])
    anns[1]["bbox"] = [70, 10, 60, 30]  # x = 70 >= 64
    with pytest.raises(DatasetError, match=r"annotation id 8 \(image id 2, b\.png\) has bbox "
                                           r"\[70, 10, 60, 30\].*entirely outside the 64x48 "
                                           r"image; valid: x < 64, y < 48, x \+ w > 0"):
        check_coco_dataset(*_write(tmp_path, _bad(annotations=anns)), num_classes=2)
    anns[1]["bbox"] = [-30, 10, 25, 5]  # x + w = -5 <= 0
    with pytest.raises(DatasetError, match="entirely outside"):
        check_coco_dataset(*_write(tmp_path, _bad(annotations=anns)), num_classes=2)
    anns[1]["bbox"] = [40, 10, 60, 30]  # x + w = 100 > 64: past the border
    summary = check_coco_dataset(*_write(tmp_path, _bad(annotations=anns)), num_classes=2)
    assert (summary["boxes"], summary["past_border"]) == (2, 1)
    anns[1]["bbox"] = [40.5, 10, 24.3, 38.4]  # within the 1 px tolerance
    assert check_coco_dataset(*_write(tmp_path, _bad(annotations=anns)), 2)["past_border"] == 0


def test_degenerate_boxes_are_skipped_counted_and_named(tmp_path):
    """Case: one box of height 0 refused the whole set; PaddleDetection skips such boxes (COCO's
    own instances files hold zero-area boxes)."""
    anns = copy.deepcopy(GOOD["annotations"])
    extra = [dict(id=20, image_id=1, category_id=1, bbox=[4, 5, 20, 0], area=0, iscrowd=0),
             dict(id=21, image_id=1, category_id=1, bbox=[4, 5, 0, 9], area=0, iscrowd=0),
             dict(id=22, image_id=2, category_id=3, bbox=[4, 5, 3, 3], area=0, iscrowd=0),
             dict(id=23, image_id=2, category_id=3, bbox=[0, 0, 0, 0], iscrowd=0),  # no area
             dict(id=24, image_id=2, category_id=3, bbox=[1, 1, 5, -2], area=9, iscrowd=0)]
    summary = check_coco_dataset(*_write(tmp_path, _bad(annotations=anns + extra)), 2)
    assert (summary["images"], summary["boxes"], summary["degenerate_skipped"]) == (2, 2, 5)
    assert summary["degenerate_examples"][0] == "annotation id 20 (a.png, bbox [4, 5, 20, 0])"
    from ppcls_ext.det.data_check import summary_line
    line = summary_line("TrainDataset", summary)
    assert line.startswith("TrainDataset: 2 images, 2 boxes, 2 categories checked, 5 boxes "
                           "without area skipped (annotation id 20 (a.png, bbox [4, 5, 20, 0]);")
    # an image whose only box is degenerate is an image without boxes
    summary = check_coco_dataset(*_write(tmp_path, _bad(annotations=anns[:1] + extra[:1])), 2)
    assert (summary["images"], summary["empty_skipped"]) == (1, 1)


def test_coco_variants_paddledetection_accepts(tmp_path):
    """Crowd boxes, segmentation (polygon, RLE, empty), categories out of order and sparse,
    images without annotations, string annotation ids, a file without 'annotations'."""
    coco = copy.deepcopy(GOOD)
    coco["categories"] = [{"id": 90, "name": "z"}, {"id": 3, "name": "y"}, {"id": 1, "name": "x"}]
    coco["images"].append({"id": 3, "file_name": "c.png", "width": 64, "height": 48})
    coco["annotations"][0]["segmentation"] = [[4, 5, 24, 5, 24, 35]]
    coco["annotations"][1]["id"] = "ann-8"
    coco["annotations"][1]["segmentation"] = []
    coco["annotations"].append(dict(id=9, image_id=2, category_id=90, bbox=[0, 0, 64, 48],
                                    area=3072, iscrowd=1,
                                    segmentation={"counts": [0, 3072], "size": [48, 64]}))
    root, image_dir, anno = _write(tmp_path, coco, images=("a.png", "b.png", "c.png"))
    summary = check_coco_dataset(root, image_dir, anno, num_classes=3)
    assert (summary["images"], summary["boxes"], summary["categories"]) == (2, 2, 3)
    assert (summary["crowd_skipped"], summary["empty_skipped"]) == (1, 1)
    assert check_coco_dataset(root, image_dir, anno, 3, load_crowd=True)["boxes"] == 3
    del coco["annotations"]
    root, image_dir, anno = _write(tmp_path, coco, images=("a.png", "b.png", "c.png"))
    assert check_coco_dataset(root, image_dir, anno, 3, role="EvalDataset",
                              allow_empty=True)["images"] == 3
    with pytest.raises(DatasetError, match="has no 'annotations'"):
        check_coco_dataset(root, image_dir, anno, 3, role="TrainDataset")


@pytest.mark.parametrize("change,message", [
    (lambda c: c["images"][0].update(id="a"),
     r"image id 'a' \(a.png\) is not an integer; PaddleDetection feeds image ids"),
    (lambda c: c["categories"][0].update(id="x"), r"category id 'x' is not an integer"),
    (lambda c: c["annotations"][0].pop("area"), r"annotation id 7 .* has no numeric 'area'"),
    (lambda c: c["annotations"][0].pop("iscrowd"), r"needs 'id' and 'iscrowd'"),
    (lambda c: c["images"][1].pop("width"), r"image id 2 \(b.png\) has width/height None/48"),
    (lambda c: c["annotations"][0].update(bbox=[1, 2, 3]), r"has bbox \[1, 2, 3\]; valid"),
])
def test_what_paddledetection_cannot_read_is_named(tmp_path, change, message):
    coco = copy.deepcopy(GOOD)
    change(coco)
    with pytest.raises(DatasetError, match=message):
        check_coco_dataset(*_write(tmp_path, coco), num_classes=2)


def test_category_beyond_num_classes(tmp_path):
    anns = copy.deepcopy(GOOD["annotations"])
    anns[0]["category_id"] = 5
    with pytest.raises(DatasetError, match=r"annotation id 7 \(image a\.png\) has category_id 5"
                                           r"; valid: the ids of 'categories' \[1, 3\]"):
        check_coco_dataset(*_write(tmp_path, _bad(annotations=anns)), num_classes=2)
    with pytest.raises(DatasetError, match=r"ann.json has 2 categories but num_classes is 1; "
                                           "set num_classes: 2 in the config or remove"):
        check_coco_dataset(*_write(tmp_path, GOOD), num_classes=1)


def test_num_classes_above_the_categories_is_refused_up_front(tmp_path):
    """Case: num_classes 10 with 3 categories passed, trained an epoch, then KeyError: 3."""
    coco = copy.deepcopy(GOOD)
    coco["categories"].append({"id": 5, "name": "w"})
    with pytest.raises(DatasetError, match=r"ann.json has 3 categories but num_classes is 10; "
                                           r"set num_classes: 3 in the config \(the detector's "
                                           "class count must equal the data set's\)"):
        check_coco_dataset(*_write(tmp_path, coco), num_classes=10)
    assert check_coco_dataset(*_write(tmp_path, coco), num_classes=3)["categories"] == 3


def test_missing_image(tmp_path):
    root, image_dir, anno = _write(tmp_path, GOOD, images=("a.png",))
    with pytest.raises(DatasetError, match=r"1 of 2 images listed in .*ann\.json are missing "
                                           r"under .*img', first: 'b\.png'"):
        check_coco_dataset(root, image_dir, anno, num_classes=2)


def test_config_datasets_are_checked_before_they_are_built(tmp_path, scenes):
    """check_config_datasets reads a PaddleDetection config's TrainDataset/EvalDataset dicts
    (``name: COCODataSet``, not yet built) as tools/det/train.py and eval.py call it."""
    import ppcls_ext.det
    ppcls_ext.det.install()
    from ppdet.core.workspace import load_config

    out, counts = scenes
    config = os.path.join(os.path.dirname(__file__), "..", "configs", "detection",
                          "quick_start", "ppyoloe_s_econvnext_mini_digits.yml")
    cfg = load_config(config)
    for mode in ("TrainDataset", "EvalDataset"):
        cfg[mode]["dataset_dir"] = out
    lines = []
    from ppcls_ext.det.data_check import check_config_datasets
    summaries = check_config_datasets(cfg, log=lines.append)
    assert summaries["TrainDataset"]["boxes"] == counts["train_boxes"]
    assert summaries["EvalDataset"]["images"] == counts["val"]
    assert lines[0] == (f"TrainDataset: 12 images, {counts['train_boxes']} boxes, "
                        "10 categories checked")
    cfg["num_classes"] = 5
    with pytest.raises(DatasetError, match="has 10 categories but num_classes is 5"):
        check_config_datasets(cfg, log=lines.append)
    cfg["num_classes"] = 10
    cfg["EvalDataset"]["anno_path"] = "annotations/nope.json"
    with pytest.raises(DatasetError, match="EvalDataset annotation file .*nope.json"):
        check_config_datasets(cfg, log=lines.append)
