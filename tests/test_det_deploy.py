"""Detection deployment: tools/det/export_model.py's format run by deploy/python/predict_det.py
on Paddle Inference and ONNX Runtime gives dygraph's boxes and scores; clear errors."""
import json
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from det_helpers import PREDICTOR_CASES, make_tiny_coco, spread_outputs, tiny_config
from ppcls_infer.det_preprocess import build_det_preprocess, preprocess_image

pytestmark = pytest.mark.integration  # detection: exports and predicts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "deploy", "python"))

import predict_det  # noqa: E402

TOP = 20  # boxes compared per image, by score


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import ppcls_ext.det
    ppcls_ext.det.install()
    from ppdet.core.workspace import load_config, merge_config
    from ppdet.engine import Trainer

    tmp = tmp_path_factory.mktemp("det_deploy")
    data = make_tiny_coco(str(tmp / "data"), n_train=2, n_val=3)
    cfg = load_config(tiny_config(tmp, data))
    merge_config({"PPYOLOEHead": {"nms": {"score_threshold": 0.0, "keep_top_k": 100}}})
    trainer = Trainer(cfg, mode="test")
    trainer.model.eval()
    spread_outputs(trainer.model)
    images = [os.path.join(data, "images", f"val_{i}.png") for i in range(3)]
    steps = [dict(type=name, **args) for t in cfg.TestReader["sample_transforms"][1:]
             for name, args in t.items()]
    ops = build_det_preprocess(steps)
    reference = {}
    with paddle.no_grad():
        for path in images:
            feed = preprocess_image(ops, predict_det.decode_rgb(path))
            out = trainer.model({k: paddle.to_tensor(v) for k, v in feed.items()})
            reference[path] = out["bbox"].numpy()[:int(out["bbox_num"].numpy()[0])]
    trainer.export(str(tmp / "inference"))
    return os.path.join(str(tmp / "inference"), "tiny"), images, reference


def _top(boxes):
    return boxes[np.argsort(-boxes[:, 1], kind="stable")][:TOP]


@pytest.mark.parametrize("backend,onednn", PREDICTOR_CASES)
def test_predictor_matches_dygraph(exported, backend, onednn):
    model_dir, images, reference = exported
    predictor = predict_det.DetPredictor(model_dir, backend, threshold=0.0,
                                         enable_mkldnn=onednn)
    for path in images:
        _, boxes = predictor.raw(path)
        want, got = _top(reference[path]), _top(boxes)
        assert len(want) == TOP and got.shape == want.shape
        assert len(np.unique(want[:, 1].round(6))) > TOP // 2  # distinct scores, not ties
        np.testing.assert_array_equal(got[:, 0], want[:, 0])  # classes
        np.testing.assert_allclose(got[:, 1], want[:, 1], atol=1e-4)  # scores
        np.testing.assert_allclose(got[:, 2:], want[:, 2:], atol=1e-2)  # boxes, pixels


def test_cli_writes_json_and_drawn_image(exported, tmp_path):
    model_dir, images, reference = exported
    scores = np.sort(reference[images[0]][:, 1])
    threshold = float(scores[-5] + scores[-6]) / 2  # 5 boxes kept, none at the boundary
    out = tmp_path / "pred"
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    (tmp_path / "imgs").mkdir()
    for path in images[:2] + [str(bad)]:
        with open(path, "rb") as f:
            (tmp_path / "imgs" / os.path.basename(path)).write_bytes(f.read())
    # a fresh process: the predictor draws labels without ppcls_ext (Pillow 10 has no
    # textsize, which ppdet's draw_bbox calls)
    script = os.path.join(ROOT, "deploy", "python", "predict_det.py")
    run = subprocess.run([sys.executable, script, "--model_dir", model_dir, "--image_dir",
                          str(tmp_path / "imgs"), "--threshold", str(threshold),
                          "--output_dir", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    # one statement of the file and the cause, as predict_cls says it
    listed = tmp_path / "imgs" / "broken.png"
    assert f"skipped unreadable image: {listed}: not an image file PIL can read\n" in run.stderr
    with open(out / "det_results.json") as f:
        saved = json.load(f)
    assert [os.path.basename(r["file_name"]) for r in saved["results"]] == ["val_0.png",
                                                                             "val_1.png"]
    assert saved["unreadable"][0]["error"] == f"{listed}: not an image file PIL can read"
    for r in saved["results"]:
        want = reference[os.path.join(os.path.dirname(images[0]),
                                      os.path.basename(r["file_name"]))]
        assert len(r["boxes"]) == int((want[:, 1] >= threshold).sum())
        for box in r["boxes"]:
            assert box["label"] in ("red", "green") and box["score"] >= threshold - 1e-5
            x1, y1, x2, y2 = box["bbox"]
            assert x1 <= x2 and y1 <= y2
    from PIL import Image
    assert Image.open(out / "val_0.png").size == (96, 96)


def test_paddledetection_deploy_flags_are_honoured(exported, tmp_path, capsys):
    """PaddleDetection's deploy/python/infer.py flags: --save_images False writes the JSON only,
    --run_benchmark True (its literal form) times, --enable_mkldnn_bfloat16 True asks bf16 (run
    as fp32 with a warning on a CPU without bf16), --device GPU on a CPU build is one line."""
    model_dir, images, _ = exported
    out = tmp_path / "pred"
    assert predict_det.main(["--model_dir", model_dir, "--image_file", images[0],
                             "--output_dir", str(out), "--save_images", "False",
                             "--run_benchmark", "True", "--enable_mkldnn_bfloat16", "True",
                             "--device", "cpu", "--batch_size", "1", "--run_mode", "paddle",
                             "--save_results", "True"]) == 0
    assert sorted(os.listdir(out)) == ["det_results.json"]  # no drawn image, and not said
    printed = capsys.readouterr().out
    assert f"boxes: {out / 'det_results.json'}\n" in printed
    with open(out / "det_results.json") as f:
        saved = json.load(f)
    assert saved["precision"] in ("bf16", "fp32")  # what ran, per this CPU
    assert "[benchmark] backend=paddle precision=" in printed
    import paddle

    if not paddle.device.is_compiled_with_cuda():
        for gpu in (["--device", "GPU"], ["--use_gpu", "True"]):
            assert predict_det.main(["--model_dir", model_dir, "--image_file", images[0],
                                     "--output_dir", str(out), *gpu]) == 2
            assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
                "error: --device GPU (or --use_gpu True) asks for a GPU but this Paddle has "
                "no CUDA; leave --device GPU (or --use_gpu True) out to run on the CPU")


def test_clear_errors(exported, tmp_path, capsys):
    model_dir, images, _ = exported
    script = os.path.join(ROOT, "deploy", "python", "predict_det.py")
    r = subprocess.run([sys.executable, script, "--model_dir", str(tmp_path / "nowhere"),
                        "--image_file", images[0]], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(
        "error: --model_dir") and "export_model.py" in r.stderr
    assert predict_det.main(["--model_dir", model_dir, "--image_file",
                             str(tmp_path / "missing.png")]) == 2
    assert "--image_file" in capsys.readouterr().err
    empty = tmp_path / "empty_model"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"infer_cfg\.yml.*not found; export"):
        predict_det.DetPredictor(str(empty))
    with open(os.path.join(model_dir, "infer_cfg.yml"), "rb") as src:
        (empty / "infer_cfg.yml").write_bytes(src.read())
    for backend in ("paddle", "onnxruntime"):
        with pytest.raises(FileNotFoundError, match=r"no Paddle inference model in .*"
                           r"\(inference\.json, model\.json or model\.pdmodel\); export "
                           r"the model with tools/export_model\.py .* or "
                           r"tools/det/export_model\.py"):
            predict_det.DetPredictor(str(empty), backend)
    with open(os.path.join(model_dir, "model.json"), "rb") as src:
        (empty / "model.json").write_bytes(src.read())
    with pytest.raises(FileNotFoundError, match=r"Paddle inference parameters .*model\."
                       r"pdiparams' not found"):
        predict_det.DetPredictor(str(empty))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_predictor_runs_without_paddle_or_ppdet(exported, backend, tmp_path):
    """predict_det.py with an ONNX backend in a process where paddle, ppdet, paddle2onnx and
    the training package cannot be imported (a deployment holding deploy/requirements.txt):
    the same boxes as dygraph; without model.json's ONNX conversion, one error line."""
    import shutil

    from deploy_helpers import NO_PADDLE

    model_dir, images, reference = exported
    predict_det.DetPredictor(model_dir, "onnxruntime")  # writes model.onnx (needs paddle2onnx)
    script = os.path.join(ROOT, "deploy", "python", "predict_det.py")
    env = dict(os.environ, PYTHONPATH=ROOT)  # ppcls_infer; the blocker refuses the rest
    run = subprocess.run([sys.executable, "-c", NO_PADDLE, script, "--model_dir", model_dir,
                          "--image_file", images[0], "--backend", backend, "--threshold", "0",
                          "--output_dir", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "imported blocked modules: []" in run.stderr
    with open(tmp_path / "out" / "det_results.json") as f:
        saved = json.load(f)
    assert saved["backend"] == backend and saved["precision"] == "fp32"
    got = np.array([[b["class_id"], b["score"]] + b["bbox"] for b in saved["results"][0]["boxes"]])
    want = _top(reference[images[0]])
    got = _top(got)
    np.testing.assert_array_equal(got[:, 0], want[:, 0])
    np.testing.assert_allclose(got[:, 1], want[:, 1], atol=1e-4)
    np.testing.assert_allclose(got[:, 2:], want[:, 2:], atol=2e-2)  # JSON rounds to 0.01 px
    no_onnx = tmp_path / "no_onnx"
    shutil.copytree(model_dir, no_onnx)
    os.remove(no_onnx / "model.onnx")
    run = subprocess.run([sys.executable, "-c", NO_PADDLE, script, "--model_dir", str(no_onnx),
                          "--image_file", images[0], "--backend", backend,
                          "--output_dir", str(tmp_path / "out2")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-2].startswith(
        f"error: ONNX model '{no_onnx / 'model.onnx'}' not found and paddle2onnx is not "
        "installed to convert")


def test_unwritable_output_is_one_error_line(exported, tmp_path):
    """A folder the results cannot be written to (permission denied, full disk) ends in one
    error line, as the tools' error policy (ppcls_infer.cli.run) says, not a traceback."""
    model_dir, images, _ = exported
    predict_det.DetPredictor(model_dir, "onnxruntime")  # model.onnx exists before the run
    from deploy_helpers import DENY_WRITES

    script = os.path.join(ROOT, "deploy", "python", "predict_det.py")
    run = subprocess.run([sys.executable, "-c", DENY_WRITES, script, "--model_dir", model_dir,
                          "--image_file", images[0], "--backend", "onnxruntime",
                          "--output_dir", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1].startswith(
        f"error: cannot write {tmp_path / 'out'}: permission denied (errno 13)")


def test_model_with_other_inputs_is_refused_at_start(exported, monkeypatch):
    import backends

    model_dir, _, _ = exported
    real = backends.OnnxRuntimeBackend.__init__

    def renamed(self, *args):
        real(self, *args)
        self.input_names = ("image", "im_size")
    monkeypatch.setattr(backends.OnnxRuntimeBackend, "__init__", renamed)
    with pytest.raises(ValueError, match=r"takes inputs \['image', 'im_size'\]; this predictor "
                       "feeds image, im_shape, scale_factor"):
        predict_det.DetPredictor(model_dir, "onnxruntime")
