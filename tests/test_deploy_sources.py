"""deploy/python/predict_cls.py lists folders and reads lists with ppcls_infer.sources: a list
with spaces in paths and tab separators (a list tools/train.py reads) and the mixed folder."""
import json
import os
import shutil
import subprocess
import sys

from engine_helpers import ROOT
from sources_helpers import BROKEN, READABLE, make_mixed_folder

PREDICT_CLS = os.path.join(ROOT, "deploy", "python", "predict_cls.py")


def _predict(exported, infer_imgs, out_json):
    return subprocess.run(
        [sys.executable, PREDICT_CLS, "-o", f"Global.inference_model_dir={exported['dir']}",
         "-o", f"Global.infer_imgs={infer_imgs}", "-o", "Global.backend=onnxruntime",
         "-o", f"Global.save_results={out_json}"],
        capture_output=True, text=True, timeout=300)


def test_list_with_spaces_tabs_and_bom(exported, digits, tmp_path):
    """Case: Global.infer_imgs=list.txt with paths holding spaces skipped every image
    ("No such file or directory: '.../my'") and stopped with "no image could be read"."""
    folder = tmp_path / "my images"
    folder.mkdir()
    names = sorted(os.listdir(os.path.join(digits, "images", "val")))[:3]
    for i, name in enumerate(names):
        shutil.copy(os.path.join(digits, "images", "val", name), folder / f"digit {i}.png")
    (tmp_path / "list.txt").write_bytes(
        "\ufeff# val images\r\nmy images/digit 0.png\t3\r\nmy images/digit 1.png 5\r\n"
        "\r\nmy images/digit 2.png\r\n".encode("utf-8"))
    proc = _predict(exported, tmp_path / "list.txt", tmp_path / "out.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = json.loads((tmp_path / "out.json").read_text())
    assert [os.path.basename(r["file_name"]) for r in saved["results"]] == \
        ["digit 0.png", "digit 1.png", "digit 2.png"]
    assert saved["unreadable"] == []


def test_mixed_folder_predicts_the_seven_readable(exported, tmp_path):
    root = make_mixed_folder(str(tmp_path / "mixed"))
    proc = _predict(exported, root, tmp_path / "out.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = json.loads((tmp_path / "out.json").read_text())
    assert sorted(os.path.relpath(r["file_name"], root) for r in saved["results"]) == \
        sorted(READABLE)
    assert sorted(os.path.relpath(b["file_name"], root) for b in saved["unreadable"]) == \
        sorted(BROKEN)
