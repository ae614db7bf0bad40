"""YOLOv10 deployment: the NMS-free model written by PaddleDetection's export (what
tools/det/export_model.py runs) gives dygraph's boxes and scores on every backend of
deploy/python/predict_det.py; the quick-start configs train a step as shipped."""
import os
import sys

import numpy as np
import paddle
import pytest

from det_helpers import PREDICTOR_CASES, make_tiny_coco, tiny_config
from ppcls_infer.det_preprocess import build_det_preprocess, preprocess_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "deploy", "python"))

import predict_det  # noqa: E402
from cpu_info import cpu_flags  # noqa: E402

pytestmark = pytest.mark.integration

TOP = 20          # boxes compared per image, by score
SIZE = 96         # 189 anchors at strides 8/16/32: the top-k takes k = min(300, anchors)
QUICK_START = "quick_start/yolov10_m_econvnext_mini_digits.yml"


def _build(cfg_path, mode):
    import ppcls_ext.det

    ppcls_ext.det.install()  # the tools' set-up: patches, EConvNeXt and YOLOv10 registered
    from ppdet.engine import Trainer

    from ppcls_ext.det.workspace import load_fresh_config

    return Trainer(load_fresh_config(cfg_path), mode=mode)


def _reference(model, ops, path):
    feed = preprocess_image(ops, predict_det.decode_rgb(path))
    with paddle.no_grad():
        out = model({k: paddle.to_tensor(v) for k, v in feed.items()})
    return out["bbox"].numpy()[:int(out["bbox_num"].numpy()[0])]


def _export(tmp, base, spread=True):
    data = make_tiny_coco(str(tmp / "data"), n_train=2, n_val=3)
    cfg_path = tiny_config(tmp, data, base=base, size=SIZE)
    trainer = _build(cfg_path, "test")
    trainer.model.eval()
    paddle.seed(1)
    for layer in trainer.model.sublayers():  # distinct scores and boxes, not ties
        if isinstance(layer, paddle.nn.Conv2D):
            paddle.nn.initializer.KaimingNormal()(layer.weight)
    if not spread:  # SPPF + PSA of the stock backbone: He-initialised, every score is 1.0
        branch = trainer.model.yolo_head.one2one
        for conv in [tower[-1] for tower in branch.cls] + [tower[-1] for tower in branch.box]:
            conv.weight.set_value(conv.weight * 1e-3)
    images = [os.path.join(data, "images", f"val_{i}.png") for i in range(3)]
    steps = [dict(type=name, **args) for t in trainer.cfg.TestReader["sample_transforms"][1:]
             for name, args in t.items()]
    ops = build_det_preprocess(steps)
    reference = {path: _reference(trainer.model, ops, path) for path in images}
    trainer.export(str(tmp / "inference"))
    return os.path.join(str(tmp / "inference"), "tiny"), images, reference


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return _export(tmp_path_factory.mktemp("y10_deploy"), QUICK_START)


def matched(want, got, score_tol=1e-4, box_tol=1e-2):
    """How many rows of ``want`` have a row of ``got`` with the same class, a score within
    ``score_tol`` and every coordinate within ``box_tol`` pixels (rows with near-equal scores
    may come out in another order, so rows are matched, not compared by position)."""
    hits = 0
    for row in want:
        same = (got[:, 0] == row[0]) & (np.abs(got[:, 1] - row[1]) <= score_tol) & \
            (np.abs(got[:, 2:] - row[2:]).max(axis=1) <= box_tol)
        hits += bool(same.any())
    return hits


def _top(boxes, n=TOP):
    return boxes[np.argsort(-boxes[:, 1], kind="stable")][:n]


def test_export_writes_the_family_threshold(exported, tmp_path):
    import yaml

    from ppcls_ext.det.yolov10.export import set_draw_threshold

    model_dir, _, _ = exported
    with open(os.path.join(model_dir, "infer_cfg.yml")) as f:
        cfg = yaml.safe_load(f)
    assert cfg["draw_threshold"] == 0.25 and cfg["label_list"] == ["red", "green"]
    bad = tmp_path / "infer_cfg.yml"
    bad.write_text("mode: paddle\n")
    with pytest.raises(ValueError, match="has no top-level draw_threshold"):
        set_draw_threshold(str(bad), 0.1)


def test_reference_is_nms_free_top_k(exported):
    _, images, reference = exported
    for path in images:
        boxes = reference[path]
        assert boxes.shape == (189, 6)  # k = min(300, 189 anchors) rows, no NMS
        assert len(np.unique(_top(boxes)[:, 1].round(6))) > TOP // 2  # not ties


@pytest.mark.parametrize("backend,onednn", PREDICTOR_CASES)
def test_predictor_matches_dygraph(exported, backend, onednn):
    model_dir, images, reference = exported
    predictor = predict_det.DetPredictor(model_dir, backend, threshold=0.0,
                                         enable_mkldnn=onednn)
    assert predictor.precision == "fp32"  # OpenVINO told f32, not its bf16 default here
    for path in images:
        _, boxes = predictor.raw(path)
        assert boxes.shape == reference[path].shape
        want = _top(reference[path])
        # the 20 best boxes of dygraph are among the predictor's 25 best
        assert matched(want, _top(boxes, TOP + 5)) == TOP, (backend, onednn, path)


@pytest.mark.parametrize("backend", ["paddle", "onnxruntime"])
def test_stock_yolov10_exports_and_matches(tmp_path_factory, backend):
    """The stock YOLOv10 (CSP-DarkNet "n" with SPPF and PSA) exports too (its backbone's loop
    once used enumerate(start=1), which Paddle's to_static rejects) and runs as in dygraph."""
    key = "stock_n"
    if key not in _STOCK:
        _STOCK[key] = _export(tmp_path_factory.mktemp("y10_stock"),
                              "quick_start/yolov10_n_digits.yml", spread=False)
    model_dir, images, reference = _STOCK[key]
    predictor = predict_det.DetPredictor(model_dir, backend, threshold=0.0)
    for path in images:
        _, boxes = predictor.raw(path)
        assert boxes.shape == reference[path].shape == (189, 6)
        want = _top(reference[path])
        assert len(np.unique(want[:, 1])) > TOP // 2  # distinct scores, not ties
        assert matched(want, _top(boxes, TOP + 5), score_tol=1e-6) == TOP


_STOCK = {}


def test_default_threshold_is_the_exports(exported):
    model_dir, images, reference = exported
    predictor = predict_det.DetPredictor(model_dir, "onnxruntime")
    assert predictor.threshold == 0.25
    _, boxes = predictor.raw(images[0])
    kept = predictor.detections(boxes)
    assert len(kept) == int((reference[images[0]][:, 1] >= 0.25 - 1e-6).sum())
    assert predict_det.DetPredictor(model_dir, "onnxruntime", threshold=0.6).threshold == 0.6


@pytest.mark.skipif(not (cpu_flags()["bf16"] or cpu_flags()["amx"]),
                    reason="no AVX512-BF16 / AMX")
@pytest.mark.parametrize("backend", ["openvino", "paddle"])
def test_bf16_runs_close_to_fp32(exported, backend):
    model_dir, images, reference = exported
    predictor = predict_det.DetPredictor(model_dir, backend, threshold=0.0, precision="bf16")
    assert predictor.precision == "bf16"
    _, boxes = predictor.raw(images[0])
    want = _top(reference[images[0]], 5)
    # bf16 keeps 8 bits of mantissa: scores within 0.05, the same best class
    assert abs(_top(boxes, 1)[0, 1] - want[0, 1]) < 0.05


def test_precision_errors(exported):
    model_dir, _, _ = exported
    with pytest.raises(ValueError, match="--precision bf16 is not offered by the onnxruntime "
                       "backend; use --backend openvino"):
        predict_det.DetPredictor(model_dir, "onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="--precision 'int4'; valid: fp32, bf16"):
        predict_det.DetPredictor(model_dir, "openvino", precision="int4")
    with pytest.raises(ValueError, match="--backend 'tensorrt'; valid: paddle, onnxruntime, "
                       "openvino"):
        predict_det.DetPredictor(model_dir, "tensorrt")


def test_bf16_where_it_cannot_run_is_fp32_with_a_warning(exported, caplog, monkeypatch):
    """The classification predictor's rule (shared backends): bf16 without oneDNN, or on a CPU
    without AVX512-BF16/AMX, runs fp32, says so once, and reports fp32 as what ran."""
    import backends

    model_dir, images, reference = exported
    with caplog.at_level("WARNING", logger="deploy"):
        predictor = predict_det.DetPredictor(model_dir, "paddle", threshold=0.0,
                                             enable_mkldnn=False, precision="bf16")
    assert predictor.precision == "fp32"
    assert "--precision bf16 needs oneDNN (--enable_mkldnn) and a CPU with AVX512-BF16 or " \
        "AMX; running fp32" in caplog.text
    _, boxes = predictor.raw(images[0])
    assert matched(_top(reference[images[0]]), _top(boxes, TOP + 5)) == TOP  # fp32 results
    caplog.clear()
    monkeypatch.setattr(backends, "cpu_flags", lambda: {"bf16": False, "amx": False})
    with caplog.at_level("WARNING", logger="deploy"):
        predictor = predict_det.DetPredictor(model_dir, "paddle", precision="bf16")
    assert predictor.precision == "fp32" and "running fp32" in caplog.text


@pytest.mark.parametrize("name", ["ppyoloe_s_econvnext_mini_digits.yml",
                                  "yolov10_m_econvnext_mini_digits.yml"])
def test_quick_start_config_trains_a_step(tmp_path, name):
    """The shipped quick-start config (readers with RandomExpand and the 96/128/160 batch
    sizes, schedule, optimizer) on 8 tiny digit scenes: one step, a finite loss."""
    from ppcls_ext.det.digits_det import prepare_digits_det

    data = str(tmp_path / "digits_det")
    prepare_digits_det(data, train_scenes=8, val_scenes=2)
    cfg = tmp_path / "qs.yml"
    cfg.write_text(f"""_BASE_: ['{os.path.join(ROOT, "configs", "detection", "quick_start", name)}']
epoch: 1
save_dir: {tmp_path}/output
EConvNeXt: {{pretrained: ~}}
TrainDataset: {{dataset_dir: {data}}}
EvalDataset: {{dataset_dir: {data}}}
TestDataset: {{dataset_dir: {data}}}
""")
    trainer = _build(str(cfg), "train")
    losses = []
    from ppdet.engine.callbacks import Callback

    class Record(Callback):
        def on_step_end(self, status):
            losses.append(float(status["training_staus"].get()["loss"]))

    trainer.register_callbacks([Record(trainer)])
    trainer.train(validate=False)
    assert len(losses) == 1 and np.isfinite(losses[0]) and losses[0] > 0
    assert os.path.isfile(os.path.join(tmp_path, "output", "qs", "model_final.pdparams"))
