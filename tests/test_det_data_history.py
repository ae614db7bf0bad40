"""mAP-per-epoch history of a detection training (ppcls_ext.det.history): records, JSON, plot."""
import json
import types

import numpy as np
import pytest
from PIL import Image

from ppcls_ext.det.history import EvalHistory, plot_history

pytestmark = pytest.mark.integration  # detection


class _Metric:
    def __init__(self, stats):
        self.stats = stats

    def get_results(self):
        return {"bbox": self.stats}


def _fake_trainer(stats):
    cfg = types.SimpleNamespace(TrainReader={"batch_size": 4})
    return types.SimpleNamespace(cfg=cfg, _metrics=[_Metric(stats)])


def test_history_records_each_evaluation_and_plots(tmp_path):
    trainer = _fake_trainer(np.array([0.5, 0.8] + [0.0] * 10))  # COCOeval.stats: an array
    history = EvalHistory(trainer, str(tmp_path / "run" / "history.json"))
    history.on_train_begin({})
    for epoch in range(2):
        history.on_epoch_begin({"mode": "train", "epoch_id": epoch})
        for _ in range(3):
            history.on_step_end({"mode": "train"})
        history.on_epoch_end({"mode": "train", "epoch_id": epoch})
        trainer._metrics[0].stats = np.array([0.5 + epoch / 10, 0.8 + epoch / 10] + [0.0] * 10)
        history.on_epoch_end({"mode": "eval", "epoch_id": epoch})
    with open(tmp_path / "run" / "history.json") as f:
        saved = json.load(f)
    assert [(r["epoch"], r["mAP"], r["mAP50"]) for r in saved] == [(1, 0.5, 0.8), (2, 0.6, 0.9)]
    assert all(r["train_images_per_s"] > 0 and r["wall_s"] >= 0 for r in saved)
    assert all(r["cpu_s"] >= 0 for r in saved) and saved[1]["cpu_s"] >= saved[0]["cpu_s"]
    png = plot_history(str(tmp_path / "run" / "history.json"), str(tmp_path / "map.png"), "t")
    assert Image.open(png).size == (500, 320)


def test_an_evaluation_without_detections_records_zero(tmp_path):
    trainer = _fake_trainer(None)
    trainer._metrics[0].get_results = lambda: {}  # COCOMetric when no box was detected
    history = EvalHistory(trainer, str(tmp_path / "history.json"))
    history.on_epoch_end({"mode": "train", "epoch_id": 0})
    history.on_epoch_end({"mode": "eval", "epoch_id": 0})
    assert (history.records[0]["mAP"], history.records[0]["mAP50"]) == (0.0, 0.0)


def test_plot_of_an_empty_history_is_a_clear_error(tmp_path):
    path = tmp_path / "history.json"
    path.write_text("[]")
    with pytest.raises(ValueError, match="holds no evaluation"):
        plot_history(str(path), str(tmp_path / "x.png"))
