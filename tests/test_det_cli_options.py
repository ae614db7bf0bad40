"""`-o` on the detection tools: repeated `-o k=v` and PaddleDetection's `-o a=1 b=2` both apply
every override (the reported run kept only the last one: 6 epochs at batch 8 on the config's
data, into the repository's output/, and the save_dir never created)."""
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("ppdet")

from det_helpers import make_tiny_voc, tiny_config, voc_datasets  # noqa: E402

pytestmark = pytest.mark.integration
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools", "det")


def test_repeated_and_grouped_overrides_all_apply(tmp_path):
    data = str(tmp_path / "voc")
    make_tiny_voc(data, n_train=8, n_val=2, size=96)
    # the config names another data dir, 3 epochs, batch 8, GPU, and a save_dir of its own
    cfg = tiny_config(tmp_path, str(tmp_path / "not_here"),
                      base="ppyoloe_s_econvnext_mini_36e_voc.yml", size=96, epochs=3,
                      datasets=voc_datasets(str(tmp_path / "not_here")))
    with open(cfg) as f:
        text = f.read()
    text = text.replace("use_gpu: false", "use_gpu: true").replace(
        "batch_size: 4\n  shuffle", "batch_size: 8\n  shuffle")
    with open(cfg, "w") as f:
        f.write(text)
    out = tmp_path / "X"
    cmd = [sys.executable, os.path.join(TOOLS, "train.py"), "-c", cfg,
           "-o", "use_gpu=false", "-o", "epoch=1", "-o", "TrainReader.batch_size=4",
           "-o", f"save_dir={out}", f"TrainDataset.dataset_dir={data}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    epochs = set(re.findall(r"Epoch: \[(\d+)\] \[\s*\d+/(\d+)\]", log))
    assert epochs == {("0", "2")}, epochs  # 1 epoch of 8 images at batch 4: 2 iterations
    assert (out / "tiny" / "model_final.pdparams").is_file()
    assert not (tmp_path / "output").exists()
    assert "TrainDataset: 8 images" in log  # the data dir of -o, checked


def test_json_eval_scores_an_existing_bbox_json_without_a_model(tmp_path):
    import json

    from det_helpers import make_tiny_coco, run_det_tool
    from ppcls_infer.cli import UserError

    data = make_tiny_coco(str(tmp_path / "coco"), n_train=1, n_val=4)
    cfg = tiny_config(tmp_path, data)
    found = tmp_path / "found"
    found.mkdir()
    argv = ("-c", cfg, "--json_eval", "--output_eval", str(found))
    with pytest.raises(UserError, match=r"--json_eval: .*found/bbox.json does not exist"):
        run_det_tool("eval", *argv)
    with open(os.path.join(data, "val.json")) as f:
        truth = json.load(f)["annotations"]
    # every ground-truth box found once with score 1: AP 1.0; no weights file is needed
    with open(found / "bbox.json", "w") as f:
        json.dump([dict(image_id=a["image_id"], category_id=a["category_id"], bbox=a["bbox"],
                        score=1.0) for a in truth], f)
    stats = run_det_tool("eval", *argv)
    assert stats[0] == pytest.approx(1.0) and stats[1] == pytest.approx(1.0)
    # half of them: recall-limited AP well below 1
    with open(found / "bbox.json", "w") as f:
        json.dump([dict(image_id=a["image_id"], category_id=a["category_id"], bbox=a["bbox"],
                        score=1.0) for a in truth[::2]], f)
    assert run_det_tool("eval", *argv)[0] < 0.9
    with pytest.raises(UserError, match="needs metric: COCO, the config has metric: 'VOC'"):
        run_det_tool("eval", *argv, "-o", "metric=VOC")
