"""Export and deployment: inference.yml, the weights exported (those eval uses), backend
parity, bad input."""
import importlib.metadata
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest
import yaml
from PIL import Image

from deploy_helpers import DENY_WRITES, DEPLOY_PY
from engine_helpers import QUICK_START, ROOT, load
from ppcls_ext import EConvNeXt_mini
from ppcls_ext.export import export, to_onnx

sys.path.insert(0, DEPLOY_PY)
from predict_cls import ClsPredictor, list_inputs  # noqa: E402

pytestmark = pytest.mark.integration  # exports a model, runs predictors (some as processes)

WHEEL_DEPLOY_CFG = os.path.join(os.path.dirname(__import__("paddleclas").__file__), "deploy",
                                "configs", "inference_cls.yaml")
DEPLOY_CFG = os.path.join(ROOT, "deploy", "configs", "inference_cls.yaml")


def _predictor(model_dir, digits, **g):
    config = {"Global": dict(inference_model_dir=model_dir, infer_imgs=digits, batch_size=16,
                             cpu_num_threads=2, **g),
              "PostProcess": {"Topk": {"topk": 1}}}
    return ClsPredictor(config)


def test_inference_yml_holds_eval_preprocessing_and_labels(exported):
    with open(os.path.join(exported["dir"], "inference.yml")) as f:
        yml = yaml.safe_load(f)
    assert yml["Global"]["image_shape"] == [3, 32, 32]
    ops = [next(iter(op)) for op in yml["PreProcess"]["transform_ops"]]
    assert ops == ["ResizeImage", "NormalizeImage", "ToCHWImage"]
    assert yml["PostProcess"]["Topk"]["label_list"][:3] == ["zero", "one", "two"]
    for name in ("inference.json", "inference.pdiparams", "inference.onnx"):
        assert os.path.getsize(os.path.join(exported["dir"], name)) > 1000


def test_backend_parity_and_same_top1_on_digits(exported, digits):
    predictors = {
        "onednn": _predictor(exported["dir"], digits, enable_mkldnn=True),
        "plain": _predictor(exported["dir"], digits, enable_mkldnn=False),
        "onnxruntime": _predictor(exported["dir"], digits, backend="onnxruntime"),
        "onnxruntime-plain-layout": _predictor(exported["dir"], digits, backend="onnxruntime",
                                               ort_blocked_elementwise=False),
    }
    paths = list_inputs(os.path.join(digits, "images", "val"))
    batch = np.stack([predictors["onednn"].preprocess(p) for p in paths]).astype(np.float32)
    with paddle.no_grad():
        reference = exported["model"](paddle.to_tensor(batch)).numpy()
    top1 = {"dygraph": reference.argmax(1)}
    for name, predictor in predictors.items():
        out = np.concatenate([predictor.predict_batch(batch[i:i + 64])
                              for i in range(0, len(batch), 64)])
        assert np.abs(out - reference).max() < 1e-4, name
        top1[name] = out.argmax(1)
    for name, pred in top1.items():
        np.testing.assert_array_equal(pred, top1["dygraph"], err_msg=name)


def _gelus_between_reorders(model):
    producer = {out: node for node in model.graph.node for out in node.output}
    users = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node.op_type)
    return sum(1 for n in model.graph.node if n.op_type == "Gelu"
               and producer[n.input[0]].op_type == "ReorderOutput"
               and "ReorderInput" in users.get(n.output[0], []))


def test_ort_layout_pass_keeps_gelus_blocked_with_identical_outputs(exported, tmp_path):
    import onnx
    import onnxruntime as ort
    from ort_layout import blocked_elementwise

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.optimized_model_filepath = str(tmp_path / "opt.onnx")
    reference = ort.InferenceSession(os.path.join(exported["dir"], "inference.onnx"), options,
                                     providers=["CPUExecutionProvider"])
    model = onnx.load(str(tmp_path / "opt.onnx"))
    before, nodes = _gelus_between_reorders(model), len(model.graph.node)
    moved = blocked_elementwise(model)
    assert before >= 20 and moved >= before and _gelus_between_reorders(model) == 0
    assert len(model.graph.node) <= nodes - before  # at least one reorder fewer per GELU
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    rewritten = ort.InferenceSession(model.SerializeToString(), options,
                                     providers=["CPUExecutionProvider"])
    x = np.random.RandomState(0).randn(3, 3, 32, 32).astype(np.float32)
    name = reference.get_inputs()[0].name
    np.testing.assert_array_equal(rewritten.run(None, {name: x})[0],
                                  reference.run(None, {name: x})[0])


@pytest.mark.parametrize("use_ema", [False, True])
def test_export_takes_the_weights_eval_takes(exported, digits, tmp_path, use_ema):
    """A checkpoint prefix means its model weights (.pdparams), as PaddleClas's eval and
    export load; Global.use_ema_weights=True means its EMA weights, for both alike."""
    from ppcls_ext.engine import Engine

    ema = EConvNeXt_mini(class_num=10)
    ema.eval()
    prefix = str(tmp_path / "ckpt")
    paddle.save(exported["model"].state_dict(), prefix + ".pdparams")
    paddle.save(ema.state_dict(), prefix + ".pdema")
    overrides = [f"Global.pretrained_model={prefix}", f"Global.use_ema_weights={use_ema}",
                 f"Global.save_inference_dir={tmp_path}/inf", "Global.infer_add_softmax=False",
                 "Global.device=cpu", f"DataLoader.Eval.dataset.image_root={digits}",
                 f"DataLoader.Eval.dataset.cls_label_path={digits}/val_list.txt",
                 f"Infer.PostProcess.class_id_map_file={digits}/label_list.txt"]
    export(load(QUICK_START, overrides))
    evaluated = Engine(load(QUICK_START, overrides), mode="eval").model
    evaluated.eval()
    x = np.random.rand(2, 3, 32, 32).astype(np.float32)
    out = _predictor(str(tmp_path / "inf"), digits).predict_batch(x)
    expected = ema if use_ema else exported["model"]
    with paddle.no_grad():
        np.testing.assert_allclose(out, expected(paddle.to_tensor(x)).numpy(), atol=1e-4)
        np.testing.assert_allclose(out, evaluated(paddle.to_tensor(x)).numpy(), atol=1e-4)


def test_predictor_cli_accepts_paddleclas_wheel_config(exported, digits, tmp_path):
    out_json = tmp_path / "pred.json"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "deploy", "python", "predict_cls.py"),
         "-c", WHEEL_DEPLOY_CFG, "-o", f"Global.inference_model_dir={exported['dir']}",
         "-o", f"Global.infer_imgs={digits}/images/val/0003_3.png", "-o", "Global.use_gpu=False",
         "-o", "Global.enable_benchmark=True", "-o", f"Global.save_results={out_json}"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'label_names': ['" in result.stdout and "[benchmark]" in result.stdout
    import json

    saved = json.loads(out_json.read_text())
    assert saved["results"][0]["file_name"].endswith("0003_3.png")
    assert len(saved["results"][0]["class_ids"]) == 5  # topk from the deploy config


def test_unwritable_results_file_is_one_error_line(exported, digits, tmp_path):
    """Global.save_results in a folder that cannot be written (permission denied, full disk):
    one error line naming it (ppcls_infer.cli.run), no traceback, no partial file."""
    out_json = tmp_path / "out" / "pred.json"
    result = subprocess.run(
        [sys.executable, "-c", DENY_WRITES, os.path.join(DEPLOY_PY, "predict_cls.py"),
         "-c", WHEEL_DEPLOY_CFG, "-o", f"Global.inference_model_dir={exported['dir']}",
         "-o", f"Global.infer_imgs={digits}/images/val/0003_3.png", "-o", "Global.use_gpu=False",
         "-o", f"Global.save_results={out_json}"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"error: cannot write {out_json.parent}: permission denied (errno 13)")
    assert not out_json.exists()


def test_bad_inputs_are_reported_clearly(exported, digits, tmp_path):
    with pytest.raises(FileNotFoundError, match="inference_model_dir"):
        _predictor(str(tmp_path / "missing"), digits)
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (3, 2), 128).save(folder / "tiny_gray.png")  # too small, odd mode: fine
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(folder / "alpha.png")
    (folder / "not_an_image.jpg").write_bytes(b"hello")
    (folder / "truncated.png").write_bytes((folder / "alpha.png").read_bytes()[:30])
    results, bad = _predictor(exported["dir"], digits).predict(list_inputs(str(folder)))
    assert sorted(os.path.basename(r["file_name"]) for r in results) == ["alpha.png",
                                                                         "tiny_gray.png"]
    assert sorted(os.path.basename(b["file_name"]) for b in bad) == ["not_an_image.jpg",
                                                                     "truncated.png"]
    with pytest.raises(FileNotFoundError, match="infer_imgs"):
        list_inputs(str(tmp_path / "nope"))


def test_input_size_the_model_was_not_exported_for(exported, digits, tmp_path):
    import shutil

    model_dir = tmp_path / "no_yml"
    shutil.copytree(exported["dir"], model_dir)
    os.remove(model_dir / "inference.yml")
    config = yaml.safe_load(open(DEPLOY_CFG))  # 224x224 preprocessing, model is 32x32
    config["Global"].update(inference_model_dir=str(model_dir), backend="onnxruntime")
    config["PostProcess"]["Topk"]["class_id_map_file"] = os.path.join(digits, "label_list.txt")
    predictor = ClsPredictor(config)
    with pytest.raises(ValueError, match="exported for input Nx3x32x32 but preprocessing "
                                         "produced 1x3x224x224"):
        predictor.predict([os.path.join(digits, "images", "val", "0003_3.png")])


def test_topk_from_deploy_config_else_the_export_else_5(exported, digits, tmp_path):
    """PostProcess.Topk.topk set in the deploy config or by -o wins; unset, the export's
    inference.yml value (the training config's Infer.PostProcess.topk: 3 in the quick start);
    an inference.yml without it: 5."""
    import json
    import shutil

    import predict_cls

    image = os.path.join(digits, "images", "val", "0003_3.png")

    def count(model_dir, post):
        config = {"Global": dict(inference_model_dir=model_dir, backend="onnxruntime"),
                  "PostProcess": post}
        results, _ = ClsPredictor(config).predict([image])
        return len(results[0]["class_ids"])

    with open(os.path.join(exported["dir"], "inference.yml")) as f:
        yml = yaml.safe_load(f)
    assert yml["PostProcess"]["Topk"]["topk"] == 3
    assert count(exported["dir"], {}) == 3
    assert count(exported["dir"], {"Topk": {"topk": None}}) == 3  # `topk: ~` is unset
    assert count(exported["dir"], {"Topk": {"topk": 1}}) == 1
    no_topk = tmp_path / "no_topk"
    shutil.copytree(exported["dir"], no_topk)
    del yml["PostProcess"]["Topk"]["topk"]
    with open(no_topk / "inference.yml", "w") as f:
        yaml.safe_dump(yml, f)
    assert count(str(no_topk), {}) == 5
    # the shipped deploy config leaves topk unset: the export's, unless -o sets it
    for extra, want in (([], 3), (["-o", "PostProcess.Topk.topk=2"], 2)):
        out = tmp_path / f"top{want}.json"
        assert predict_cls.main(["-o", f"Global.inference_model_dir={exported['dir']}",
                                 "-o", f"Global.infer_imgs={image}",
                                 "-o", "Global.backend=onnxruntime",
                                 "-o", f"Global.save_results={out}"] + extra) == 0
        assert len(json.loads(out.read_text())["results"][0]["class_ids"]) == want


def test_onnx_conversion_installs_nothing(exported, tmp_path):
    before = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
    to_onnx(exported["dir"], str(tmp_path / "again.onnx"))
    after = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
    assert before == after and os.path.getsize(tmp_path / "again.onnx") > 1000


def test_fp16_without_tensorrt_is_refused(exported, digits):
    """Regression: ``use_fp16`` without TensorRT ran fp32 silently (PaddleClas's
    predictor asserts); now one clear error names the keys."""
    for backend in ("paddle", "onnxruntime"):
        with pytest.raises(RuntimeError, match="use_fp16=True needs Global.use_gpu=True and "
                                               "Global.use_tensorrt=True"):
            _predictor(exported["dir"], digits, use_fp16=True, backend=backend)


class _Recorder:
    """Stands in for paddle.inference.Config / the paddle.tensorrt module: records calls."""

    def __init__(self, *args, **kwargs):
        self.calls = [("__init__", args, kwargs)]

    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))


def test_tensorrt_converts_the_pir_model_with_the_exported_profile(tmp_path, monkeypatch):
    """Regression: TensorRT went through ``enable_tensorrt_engine`` (documented for
    .pdmodel programs) with a 3x224x224 profile whatever the export. Now
    ``paddle.tensorrt.convert`` (Paddle 3.x's route for PIR .json models) gets the
    inference.yml image size and the configured batch; mocked here (CPU build)."""
    import types

    import backends

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name in ("inference.json", "inference.pdiparams"):
        (model_dir / name).write_text("{}")
    (model_dir / "inference.yml").write_text(yaml.safe_dump(
        {"Global": {"image_shape": [3, 40, 48]}}))
    converted, configs = [], []
    fake_trt = types.SimpleNamespace(
        Input=lambda **kw: kw, PrecisionMode=types.SimpleNamespace(FP16="FP16", FP32="FP32"),
        TensorRTConfig=lambda **kw: kw,
        convert=lambda path, config: converted.append((path, config)))
    monkeypatch.setitem(sys.modules, "paddle.tensorrt", fake_trt)
    monkeypatch.setattr(paddle, "tensorrt", fake_trt, raising=False)
    monkeypatch.setattr(paddle.device, "is_compiled_with_cuda", lambda: True)

    def fake_config(*args):
        configs.append(_Recorder(*args))
        return configs[-1]
    predictor = types.SimpleNamespace(get_input_names=lambda: ["x"],
                                      get_output_names=lambda: ["out"],
                                      get_input_handle=lambda n: n, get_output_handle=lambda n: n)
    monkeypatch.setattr(paddle.inference, "Config", fake_config)
    monkeypatch.setattr(paddle.inference, "create_predictor", lambda config: predictor)

    g = dict(use_gpu=True, use_tensorrt=True, use_fp16=True, batch_size=4,
             trt_max_batch_size=8)
    backends.create_backend(str(model_dir), g)
    assert len(converted) == 1
    path, trt_config = converted[0]
    assert path == str(model_dir / "inference")
    assert trt_config["precision_mode"] == "FP16"
    assert trt_config["inputs"] == [dict(min_input_shape=[1, 3, 40, 48],
                                         optim_input_shape=[4, 3, 40, 48],
                                         max_input_shape=[8, 3, 40, 48], name="x")]
    prefix = trt_config["save_model_dir"]
    calls = configs[0].calls
    assert calls[0][1] == (prefix + ".json", prefix + ".pdiparams")
    assert "enable_tensorrt_engine" not in [c[0] for c in calls]
    assert ("enable_use_gpu", (8000, 0), {}) in calls


def test_misspelt_global_override_is_refused_not_ignored():
    """A fresh-user report: ``-o Global.infer_img=...`` (missing s) was accepted silently and
    the deploy config's default folder was classified instead. A Global key the config lacks
    is added only if the predictor reads it; PaddleClas's keys and this project's still are."""
    from ppcls_infer.cli import OverrideError
    from predict_cls import load_config

    cfg = os.path.join(ROOT, "deploy", "configs", "inference_cls.yaml")
    with pytest.raises(OverrideError, match="infer_img"):
        load_config(cfg, ["Global.infer_img=a.png"])
    config = load_config(cfg, ["Global.infer_imgs=a.png", "Global.benchmark=True",
                               "Global.save_log_path=log.txt", "Global.gpu_id=0"])
    g = config["Global"]
    assert (g["infer_imgs"], g["benchmark"], g["save_log_path"], g["gpu_id"]) == \
        ("a.png", True, "log.txt", 0)
