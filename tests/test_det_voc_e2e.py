"""A Pascal VOC set (3-channel .bmp, XMLs with a <sonar> block) end to end with the detection
tools: data check, training, VOC mAP, COCO mAP of the voc2coco split, inference that skips
unreadable files (it hung) and draws boxes inside the image."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ppdet")

from det_helpers import NMS, TOOLS, make_tiny_voc, tiny_config, voc_datasets  # noqa: E402

pytestmark = pytest.mark.integration


def _tool(tmp, name, *argv):
    """A tools/det script in a subprocess (ppdet's load_config merges every config into one
    process-wide dict: a VOC config loaded here would leak into the other tests' configs)."""
    return subprocess.run([sys.executable, os.path.join(TOOLS, f"{name}.py"), *argv],
                          capture_output=True, text=True, timeout=600, cwd=str(tmp))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("det_voc")
    data = str(tmp / "sonar")
    counts = make_tiny_voc(data, n_train=8, n_val=4, size=96)
    cfg = tiny_config(tmp, data, base="ppyoloe_s_econvnext_mini_36e_voc.yml",
                      datasets=voc_datasets(data), extra=NMS)
    proc = _tool(tmp, "train", "-c", cfg, "--eval")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, data, cfg, counts, proc.stdout + proc.stderr


def test_training_checks_the_voc_set_and_reports_voc_map(trained):
    tmp, _, _, counts, log = trained
    assert f"TrainDataset: 8 images, {counts['train']} boxes, 2 categories checked" in log
    assert f"EvalDataset: 4 images, {counts['val']} boxes, 2 categories checked" in log
    assert re.search(r"mAP\(0\.50, 11point\) = \d+\.\d\d%", log)
    assert (tmp / "output" / "tiny" / "model_final.pdparams").is_file()


def test_num_classes_above_the_label_list_stops_before_training(trained, tmp_path):
    _, data, cfg, _, _ = trained
    proc = _tool(tmp_path, "train", "-c", cfg, "-o", "num_classes=10")
    assert proc.returncode == 2
    assert (f"{os.path.join(data, 'label_list.txt')} has 2 categories but num_classes is 10; "
            "set num_classes: 2") in proc.stderr
    assert "Epoch" not in proc.stdout + proc.stderr


def test_eval_voc_map_and_coco_map_of_the_converted_split(trained):
    tmp, data, cfg, _, _ = trained
    weights = f"weights={tmp}/output/tiny/model_final"
    proc = _tool(tmp, "eval", "-c", cfg, "-o", weights)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"mAP\(0\.50, 11point\) = \d+\.\d\d%", proc.stdout + proc.stderr)

    from ppcls_ext.det.commands import voc2coco
    val_json = str(tmp / "val.json")
    voc2coco(["--anno_list", os.path.join(data, "val.txt"), "--label_list",
              os.path.join(data, "label_list.txt"), "--output", val_json])
    coco = json.load(open(val_json))
    assert [c["name"] for c in coco["categories"]] == ["red", "green"]
    (tmp / "coco").mkdir()
    coco_cfg = tiny_config(tmp / "coco", data, datasets=f"""EvalDataset:
  name: COCODataSet
  dataset_dir: {data}
  image_dir: JPEGImages
  anno_path: {val_json}
  allow_empty: true
TestDataset:
  name: ImageFolder
  anno_path: {val_json}
""", extra=NMS)
    proc = _tool(tmp, "eval", "-c", coco_cfg, "-o", weights)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"EvalDataset: 4 images, {len(coco['annotations'])} boxes, 2 categories" in proc.stdout
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in \
        proc.stdout


def test_infer_skips_unreadable_files_and_clips_boxes(trained):
    """Case: tools/det/infer.py hung forever on a truncated JPEG / a 0-byte PNG."""
    import cv2

    tmp, data, cfg, _, _ = trained
    folder = tmp / "mixed"
    folder.mkdir()
    good = cv2.imread(os.path.join(data, "JPEGImages", "val_000.bmp"))
    cv2.imwrite(str(folder / "a.bmp"), good)
    cv2.imwrite(str(folder / "B.JPG"), good)
    jpg = (folder / "B.JPG").read_bytes()
    (folder / "c_truncated.jpg").write_bytes(jpg[:len(jpg) // 2])
    (folder / "d_empty.png").write_bytes(b"")
    out = tmp / "vis"
    proc = _tool(tmp, "infer", "-c", cfg, "-o", f"weights={tmp}/output/tiny/model_final",
                 "--infer_dir", str(folder), "--output_dir", str(out), "--draw_threshold", "0.0",
                 "--save_results", "true")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert re.search(r"skipped 2 of 4 images that cannot be decoded: .*c_truncated.jpg: cannot "
                     r"decode image \(image file is truncated.*d_empty.png: cannot decode", log)
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".json") == ["B.JPG", "a.bmp"]
    boxes = np.asarray(json.load(open(out / "bbox.json"))["bbox"], dtype=float).reshape(-1, 4)
    assert len(boxes) and boxes.min() >= 0 and boxes[:, [0, 2]].max() <= 96 \
        and boxes[:, [1, 3]].max() <= 96
