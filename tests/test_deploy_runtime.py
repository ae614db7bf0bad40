"""OpenVINO backend, precision (fp32 / bf16), int8 on the Paddle backend, Paddle-free deployment."""
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml

from deploy_helpers import DEPLOY_PY, NO_PADDLE

sys.path.insert(0, DEPLOY_PY)
import backends  # noqa: E402
from cpu_info import cpu_flags  # noqa: E402
from predict_cls import ClsPredictor, list_inputs  # noqa: E402

pytestmark = pytest.mark.integration  # exports a model, runs predictors (some as processes)

pytest.importorskip("openvino")


def _predictor(model_dir, digits, **g):
    config = {"Global": dict(inference_model_dir=model_dir, infer_imgs=digits, batch_size=16,
                             cpu_num_threads=2, **g),
              "PostProcess": {"Topk": {"topk": 1}}}
    return ClsPredictor(config)


@pytest.fixture(scope="module")
def val_batch(exported, digits):
    """The digits val images, preprocessed as deployed, and the dygraph logits on them."""
    predictor = _predictor(exported["dir"], digits, backend="onnxruntime")
    paths = list_inputs(os.path.join(digits, "images", "val"))
    batch = np.stack([predictor.preprocess(p) for p in paths]).astype(np.float32)
    with paddle.no_grad():
        reference = exported["model"](paddle.to_tensor(batch)).numpy()
    return batch, reference


def _run(predictor, batch):
    return np.concatenate([predictor.predict_batch(batch[i:i + 64])
                           for i in range(0, len(batch), 64)])


def test_openvino_fp32_matches_dygraph_on_digits(exported, digits, val_batch):
    batch, reference = val_batch
    predictor = _predictor(exported["dir"], digits, backend="openvino")
    assert predictor.backend.precision == "fp32"  # asked explicitly, read back from OpenVINO
    out = _run(predictor, batch)
    assert len(batch) >= 100 and np.abs(out - reference).max() < 1e-4
    np.testing.assert_array_equal(out.argmax(1), reference.argmax(1))


@pytest.mark.parametrize("backend", ["openvino", "paddle"])
def test_bf16_runs_where_the_cpu_has_it_and_reports_top1_change(exported, digits, val_batch,
                                                                backend, capsys):
    batch, reference = val_batch
    predictor = _predictor(exported["dir"], digits, backend=backend, precision="bf16")
    if not (cpu_flags()["bf16"] or cpu_flags()["amx"]):
        assert predictor.backend.precision == "fp32"  # no bf16 instructions: fp32, warned
        return
    assert predictor.backend.precision == "bf16"
    out = _run(predictor, batch)
    diff = np.abs(out - reference).max()
    changed = float((out.argmax(1) != reference.argmax(1)).mean())
    with capsys.disabled():
        print(f"\n[bf16 {backend}] max |logit diff| {diff:.4f}, top-1 changed on "
              f"{100 * changed:.1f}% of {len(batch)} digits val images")
    assert diff > 1e-6  # bf16 really ran: fp32 matches to ~1e-6
    assert diff < 0.05 * np.abs(reference).max() + 0.05 and changed <= 0.1


def test_int8_ptq_runs_int8_on_openvino_and_reports_top1_change(exported, digits, val_batch,
                                                                 tmp_path, capsys):
    """An int8 export of tools/quant_post.py (PaddleSlim PTQ on the digits training images)
    loads in both ONNX backends like any export; OpenVINO runs its convolutions in u8."""
    import copy

    ptq = pytest.importorskip("ppcls_ext.slim.ptq")
    config = copy.deepcopy(exported["config"])
    config["DataLoader"]["Train"]["dataset"].update(
        image_root=digits, cls_label_path=os.path.join(digits, "train_list.txt"))
    config["Global"]["save_inference_dir"] = str(tmp_path / "int8")
    save_dir = ptq.quantize_post(config, calib_num=64)
    batch, reference = val_batch
    for backend in ("openvino", "onnxruntime"):
        predictor = _predictor(save_dir, digits, backend=backend)
        out = _run(predictor, batch)
        diff = np.abs(out - reference).max()
        changed = float((out.argmax(1) != reference.argmax(1)).mean())
        with capsys.disabled():
            print(f"\n[int8 PTQ {backend}] max |logit diff| {diff:.4f} (max |logit| "
                  f"{np.abs(reference).max():.3f}), top-1 changed on {100 * changed:.1f}% of "
                  f"{len(batch)} digits val images")
        assert diff < 0.1 * np.abs(reference).max() and changed <= 0.1
    assert predictor.backend.precision == "fp32"  # ONNX Runtime: no float-precision switch
    ov = _predictor(save_dir, digits, backend="openvino").backend
    assert ov.precision == "int8+fp32" and ov.executed_precisions().get("u8", 0) > 20


def test_int8_model_on_paddle_backend_warns_once_naming_openvino(exported, digits, tmp_path,
                                                                  caplog):
    model_dir = tmp_path / "int8"
    shutil.copytree(exported["dir"], model_dir)
    with open(model_dir / "inference.yml") as f:
        yml = yaml.safe_load(f)
    yml["Global"]["quantized"] = "int8"
    with open(model_dir / "inference.yml", "w") as f:
        yaml.safe_dump(yml, f)
    with caplog.at_level(logging.WARNING, logger="deploy"):
        _predictor(str(model_dir), digits)
        _predictor(str(model_dir), digits)
        ov = _predictor(str(model_dir), digits, backend="openvino")
    warnings = [r.getMessage() for r in caplog.records if "int8" in r.getMessage()]
    assert len(warnings) == 1 and "Global.backend=openvino" in warnings[0]
    assert "Paddle Inference runs its float graph (inference.json) in fp32" in warnings[0]
    assert ov.backend.precision == "int8+fp32"


def test_missing_onnx_is_converted_on_first_use_except_int8(exported, digits, val_batch,
                                                           tmp_path, monkeypatch):
    """An export without inference.onnx (tools/export_model.py without --onnx) is converted by
    the ONNX backends on first use, as the detection predictor does with model.json; not an
    int8 export (its Paddle program is the float graph), nor without paddle2onnx."""
    batch, reference = val_batch
    no_onnx = tmp_path / "no_onnx"
    shutil.copytree(exported["dir"], no_onnx)
    os.remove(no_onnx / "inference.onnx")
    predictor = _predictor(str(no_onnx), digits, backend="openvino")
    assert (no_onnx / "inference.onnx").stat().st_size > 1000
    assert np.abs(_run(predictor, batch) - reference).max() < 1e-4
    int8 = tmp_path / "int8_no_onnx"
    shutil.copytree(exported["dir"], int8)
    os.remove(int8 / "inference.onnx")
    with open(int8 / "inference.yml") as f:
        yml = yaml.safe_load(f)
    yml["Global"]["quantized"] = "int8"
    with open(int8 / "inference.yml", "w") as f:
        yaml.safe_dump(yml, f)
    with pytest.raises(backends.BackendError, match="inference.onnx not found and .* holds an "
                       "int8 export, whose Paddle program is its float graph: re-export"):
        _predictor(str(int8), digits, backend="onnxruntime")
    assert not (int8 / "inference.onnx").exists()
    os.remove(no_onnx / "inference.onnx")

    def read_only(*args):
        raise PermissionError(13, "Permission denied")
    with monkeypatch.context() as m:
        m.setattr(backends, "paddle_to_onnx", read_only)
        with pytest.raises(backends.BackendError, match=r"cannot write .*no_onnx/inference\.onnx "
                           r"\(converting .*inference\.json to ONNX\): Permission denied"):
            _predictor(str(no_onnx), digits, backend="onnxruntime")
    monkeypatch.setitem(sys.modules, "paddle2onnx", None)  # a Paddle-free deployment
    with pytest.raises(FileNotFoundError, match="inference.onnx' not found and paddle2onnx is "
                       "not installed to convert .*inference.json; export the model with "
                       "tools/export_model.py .*--onnx"):
        _predictor(str(no_onnx), digits, backend="onnxruntime")


def test_openvino_and_precision_bad_inputs(exported, digits, monkeypatch):
    with pytest.raises(ValueError, match="Global.precision 'fp16'; valid: fp32, bf16"):
        _predictor(exported["dir"], digits, backend="openvino", precision="fp16")
    with pytest.raises(ValueError, match="Global.precision bf16 is not offered by the "
                       "onnxruntime backend; use Global.backend openvino"):
        _predictor(exported["dir"], digits, backend="onnxruntime", precision="bf16")
    with pytest.raises(ValueError, match="valid: paddle, onnxruntime, openvino"):
        _predictor(exported["dir"], digits, backend="tensorflow")
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(backends.BackendError,
                       match="openvino is not installed.*deploy/requirements.txt"):
        _predictor(exported["dir"], digits, backend="openvino")


def test_bf16_on_a_cpu_without_it_runs_fp32_with_a_warning(exported, digits, monkeypatch,
                                                           caplog):
    monkeypatch.setattr(backends, "cpu_flags", lambda: {"bf16": False, "amx": False})
    with caplog.at_level(logging.WARNING, logger="deploy"):
        predictor = _predictor(exported["dir"], digits, precision="bf16")
    assert predictor.backend.precision == "fp32"
    assert "Global.precision bf16 needs oneDNN (Global.enable_mkldnn) and a CPU with " \
        "AVX512-BF16 or AMX; running fp32" in caplog.text


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_predictor_runs_without_paddle(exported, digits, backend):
    cmd = [sys.executable, "-c", NO_PADDLE, os.path.join(DEPLOY_PY, "predict_cls.py"),
           "-o", f"Global.inference_model_dir={exported['dir']}", "-o", f"Global.backend={backend}",
           "-o", f"Global.infer_imgs={digits}/images/val/0003_3.png", "-o", "Global.use_gpu=False"]
    # only ppcls_infer is installed in a deployment (the blocker refuses ppcls_ext)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(DEPLOY_PY)))
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'file_name': '" in result.stdout and "'label_names': ['" in result.stdout
    assert "imported blocked modules: []" in result.stderr
    assert f"backend {backend} on" in result.stderr and "precision fp32" in result.stderr
    if backend == "openvino":
        assert "convolutions/matmuls by runtime precision: {'f32': " in result.stderr
