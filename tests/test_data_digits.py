"""The bundled digits dataset: layout, determinism, stratification, idempotence, the CLI."""
import importlib.util
import os

import numpy as np
from PIL import Image

from data_helpers import EVAL_OPS
from ppcls_ext.engine.data import ImageNetDataset
from ppcls_ext.engine.data.digits import prepare_digits


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_layout_split_and_grayscale_pngs(tmp_path):
    out = str(tmp_path / "digits")
    counts = prepare_digits(out)
    assert (counts["train"], counts["val"], counts["classes"]) == (1438, 359, 10)
    train, val = _lines(f"{out}/train_list.txt"), _lines(f"{out}/val_list.txt")
    assert len(train) == 1438 and len(val) == 359
    assert train[0] == "images/train/0000_0.png 0"
    assert _lines(f"{out}/label_list.txt")[:2] == ["0 zero", "1 one"]
    paths = {line.split()[0] for line in train + val}
    assert len(paths) == 1797  # disjoint, complete
    val_labels = np.array([int(line.split()[1]) for line in val])
    all_labels = np.array([int(line.split()[1]) for line in train + val])
    for cls in range(10):  # stratified: each class ~20% in val
        share = (val_labels == cls).sum() / (all_labels == cls).sum()
        assert abs(share - 0.2) < 0.01
    for line in train[:20]:
        rel, label = line.split()
        assert rel.endswith(f"_{label}.png")
        img = Image.open(os.path.join(out, rel))
        assert img.mode == "L" and img.size == (8, 8)
        assert np.asarray(img).max() <= 255 and np.asarray(img).max() > 100
    ds = ImageNetDataset(out, f"{out}/val_list.txt", EVAL_OPS)  # grayscale -> RGB path
    ds.check_labels(10)
    assert len(set(ds.labels)) == 10 and ds[0][0].shape == (3, 32, 32)


def test_deterministic_and_idempotent_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "prepare_digits_cli", os.path.join(os.path.dirname(__file__), "..", "tools",
                                           "prepare_digits.py"))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert cli.main(["--out", a])["written"] == 1800
    prepare_digits(b)
    for name in ("train_list.txt", "val_list.txt", "label_list.txt", "images/val/0003_3.png"):
        with open(f"{a}/{name}", "rb") as fa, open(f"{b}/{name}", "rb") as fb:
            assert fa.read() == fb.read()
    stamp = os.stat(f"{a}/images/train/0000_0.png").st_mtime_ns
    assert cli.main(["--out", a])["written"] == 0  # second run: nothing rewritten
    assert os.stat(f"{a}/images/train/0000_0.png").st_mtime_ns == stamp
    assert "1438 train, 359 val, 10 classes" in capsys.readouterr().out
    cli.main(["--out", a, "--val-fraction", "0.5", "--seed", "1"])  # another split, no leftovers
    n_files = sum(len(files) for _, _, files in os.walk(f"{a}/images"))
    assert n_files == 1797 and len(_lines(f"{a}/val_list.txt")) > 890
