"""int8 quantization with PaddleSlim: Slim config, QAT (a few iterations), PTQ, int8 ONNX export
run by ONNX Runtime (and OpenVINO when installed), bad inputs."""
import os
import subprocess
import sys

import numpy as np
import onnx
import paddle
import pytest

from engine_helpers import QUICK_START, ROOT, load, make_splits, tiny_overrides
from ppcls_ext import EConvNeXt_mini
from ppcls_ext.engine import ConfigError

QAT_CONFIG = os.path.join(ROOT, "configs", "slim", "EConvNeXt_mini_digits_quantization.yaml")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("slimdata"))
    make_splits(root, 8, 6, size=(32, 32))
    with open(os.path.join(root, "labels.txt"), "w") as f:
        f.write("0 zero\n1 one\n2 two\n")
    return root


def overrides(data, out, extra=()):
    return tiny_overrides(data, out, epochs=1, batch_size=4, extra=(
        f"Infer.PostProcess.class_id_map_file={data}/labels.txt",
        f"Global.save_inference_dir={out}/inference", "Global.infer_add_softmax=False",
        "Global.eval_during_train=False", *extra))


def val_images(data, n=6):
    from ppcls_ext.engine.data import build_dataset

    config = load(QUICK_START, tiny_overrides(data, "/tmp"))
    dataset = build_dataset(config["DataLoader"]["Eval"]["dataset"])
    return np.stack([dataset[i][0] for i in range(n)])


def run_onnx(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def trained_float_model(path):
    """A mini with realistic BN statistics (a few train-mode passes), saved as .pdparams."""
    model = EConvNeXt_mini(class_num=3)
    model.train()
    with paddle.no_grad():
        for _ in range(3):
            model(paddle.randn([8, 3, 32, 32]) * 2 + 0.5)
    paddle.save(model.state_dict(), path + ".pdparams")
    model.eval()
    return model


def test_placement_keeps_depthwise_gates_stem_and_head_float():
    from ppcls_ext.slim.placement import int8_layer_names

    model = EConvNeXt_mini(class_num=3)
    names = int8_layer_names(model)
    layers = dict(model.named_sublayers())
    assert names and all(layers[n]._groups == 1 for n in names)
    assert not [n for n in names if "dwconv" in n or "ese" in n or ".attn." in n
                or n.startswith("stem") or n.startswith("head")]
    assert {"stages.0.blocks.0.pwconv1", "stages.0.blocks.0.pwconv2", "stages.1.down.conv",
            "stages.3.conv3.conv"} <= set(names)


@pytest.mark.parametrize("slim, message", [
    ({"quant": {"name": "dorefa"}},
     "Slim.quant.name 'dorefa' is not a known quantizer; valid: pact"),
    ({"prune": {"name": "fpgm"}}, "unknown key Slim.'prune'"),
    ({"quant": {"name": "pact", "bits": 4}}, "unknown key Slim.quant.'bits'"),
])
def test_bad_slim_section_is_one_clear_error(slim, message):
    from ppcls_ext.engine.config import validate_config

    config = load(QUICK_START)
    config["Slim"] = slim
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        validate_config(config, "cfg.yaml")


@pytest.mark.integration  # trains and exports
def test_qat_trains_from_float_checkpoint_and_exports_int8(data, tmp_path):
    """QAT: Engine with the Slim config wraps the model after loading the float weights, trains
    a few iterations, saves a QAT checkpoint; export writes a QDQ ONNX whose outputs match the
    QAT model's simulated int8."""
    from ppcls_ext.engine import Engine
    from ppcls_ext.slim.export import export_qat
    from ppcls_ext.slim.qat import is_qat_state, prepare_qat

    float_model = trained_float_model(str(tmp_path / "float"))
    out = str(tmp_path / "out")
    config = load(QAT_CONFIG, overrides(data, out, [f"Global.pretrained_model={tmp_path}/float"]))
    engine = Engine(config, "train", prepare_model=prepare_qat)
    assert engine.quanter is not None
    wrapped = dict(engine.model.named_sublayers())["stages.0.blocks.0.pwconv1._layer"]
    np.testing.assert_array_equal(  # the float weights went in before wrapping
        wrapped.weight.numpy(), float_model.stages[0].blocks[0].pwconv1.weight.numpy())
    engine.train()
    best = os.path.join(out, "EConvNeXt_mini", "latest")
    assert is_qat_state(paddle.load(best + ".pdparams"))

    config = load(QAT_CONFIG, overrides(data, out, [f"Global.pretrained_model={best}"]))
    save_dir = export_qat(config)
    graph = onnx.load(os.path.join(save_dir, "inference.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") > 20 and ops.count("DequantizeLinear") > 60
    with open(os.path.join(save_dir, "inference.yml")) as f:
        assert "quantized: int8" in f.read()

    x = val_images(data)
    eval_config = load(QAT_CONFIG, overrides(data, out, [f"Global.pretrained_model={best}"]))
    eval_engine = Engine(eval_config, "eval", prepare_model=prepare_qat)
    eval_engine.model.eval()
    with paddle.no_grad():
        simulated = eval_engine.model(paddle.to_tensor(x)).numpy()
    int8 = run_onnx(os.path.join(save_dir, "inference.onnx"), x)
    scale = np.abs(simulated).max()
    assert np.abs(int8 - simulated).max() < 0.05 * scale
    assert (int8.argmax(1) == simulated.argmax(1)).all()

    ov = pytest.importorskip("openvino")
    compiled = ov.Core().compile_model(os.path.join(save_dir, "inference.onnx"), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    assert np.abs(compiled(x)[0] - simulated).max() < 0.05 * scale


def test_engine_with_slim_and_no_qat_hook_is_a_config_error(data, tmp_path):
    """The engine does not import slim: a Slim.quant config built without the hook the tools
    pass fails with one line instead of silently training a float model."""
    from ppcls_ext.engine import Engine

    config = load(QAT_CONFIG, overrides(data, str(tmp_path / "out")))
    with pytest.raises(ConfigError, match=r"Slim\.quant needs the QAT hook: run tools/train\.py"):
        Engine(config, "train")


@pytest.mark.integration  # exports
def test_ptq_writes_qdq_onnx_close_to_float(data, tmp_path):
    from ppcls_ext.slim.ptq import quantize_post

    model = trained_float_model(str(tmp_path / "float"))
    config = load(QUICK_START, overrides(data, str(tmp_path),
                                         [f"Global.pretrained_model={tmp_path}/float"]))
    save_dir = quantize_post(config, calib_num=6)
    path = os.path.join(save_dir, "inference.onnx")
    ops = [n.op_type for n in onnx.load(path).graph.node]
    assert ops.count("QuantizeLinear") > 20 and "Erf" in ops  # GELU stays float
    x = val_images(data)
    with paddle.no_grad():
        ref = model(paddle.to_tensor(x)).numpy()
    int8 = run_onnx(path, x)
    assert np.abs(int8 - ref).max() < 0.05 * np.abs(ref).max()
    fp32_onnx = os.path.join(save_dir, "inference.json")  # the float program sits beside it
    assert os.path.isfile(fp32_onnx)

    ov = pytest.importorskip("openvino")
    compiled = ov.Core().compile_model(path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ov_out = compiled(x)[0]
    assert np.abs(ov_out - ref).max() < 0.05 * np.abs(ref).max()


def test_qdq_weights_and_activations_follow_paddleslim_scales():
    """The int8 weight is round(w / (max|w_c| / 127)); activations use threshold / 127 with a
    uint8 zero point of 128 (the same grid as int8, shifted)."""
    from onnx import helper, numpy_helper, TensorProto
    from ppcls_ext.slim.qdq import insert_qdq

    w = np.random.RandomState(0).randn(4, 3, 1, 1).astype("float32")
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(w)),
         helper.make_node("Conv", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 2, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    assert insert_qdq(model, [(w, 2.0)]) == 1
    onnx.checker.check_model(model)
    x = np.random.RandomState(1).uniform(-3, 3, (1, 3, 2, 2)).astype("float32")
    got = run_onnx_model(model, x)
    s_a = 2.0 / 127
    xq = (np.clip(np.round(x / s_a), -128, 127) * s_a)
    s_w = np.abs(w).reshape(4, -1).max(1) / 127
    wq = np.round(w / s_w[:, None, None, None]) * s_w[:, None, None, None]
    want = np.einsum("oi,nihw->nohw", wq[:, :, 0, 0], xq)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def run_onnx_model(model, x):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def quant_post_cli(args):
    cmd = [sys.executable, os.path.join(ROOT, "tools", "quant_post.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_export_of_slim_config_refuses_float_weights(data, tmp_path):
    from ppcls_ext.slim.export import export_qat

    trained_float_model(str(tmp_path / "float"))
    config = load(QAT_CONFIG, overrides(data, str(tmp_path),
                                        [f"Global.pretrained_model={tmp_path}/float"]))
    with pytest.raises(ValueError, match="holds float weights, not a QAT checkpoint"):
        export_qat(config)
    assert not os.path.exists(os.path.join(tmp_path, "inference"))


@pytest.mark.integration  # runs tools/quant_post.py as a process
def test_ptq_without_calibration_images_is_one_clear_line(data, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train_list.txt").write_text("")
    args = ["-c", QUICK_START]
    for o in overrides(data, str(tmp_path), [
            f"DataLoader.Train.dataset.image_root={empty}",
            f"DataLoader.Train.dataset.cls_label_path={empty}/train_list.txt"]):
        args += ["-o", o]
    result = quant_post_cli(args)
    assert result.returncode == 2
    lines = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "PTQ calibration set (DataLoader.Train)" in lines[0] and "lists no images" in lines[0]
    assert not os.path.exists(os.path.join(tmp_path, "inference"))


def test_erf_gelu_of_the_legacy_export_matches_paddle_gelu():
    """legacy.py swaps nn.GELU for the erf formula (F.gelu does not trace in the legacy
    program format); the numbers stay those of nn.GELU up to one fp32 rounding step."""
    from ppcls_ext.slim.legacy import ErfGELU, use_erf_gelu

    x = paddle.randn([4096]) * 4
    ref = paddle.nn.GELU()(x).numpy()
    np.testing.assert_allclose(ErfGELU()(x).numpy(), ref, rtol=2e-6, atol=1e-6)
    model = EConvNeXt_mini(class_num=3)
    model.eval()
    image = paddle.randn([1, 3, 32, 32])
    before = model(image).numpy()
    assert use_erf_gelu(model) == 34
    assert not [l for l in model.sublayers() if isinstance(l, paddle.nn.GELU)]
    np.testing.assert_allclose(model(image).numpy(), before, rtol=1e-4, atol=1e-5)
