"""PaddleX 3 runs this project's exports: ``ppcls_infer.paddlex_plugin`` registers the
E-ConvNeXt classifiers and detectors, and PaddleX's ``create_model`` (Paddle Inference and
ONNX Runtime engines) and its image-classification / object-detection pipelines give the
class ids, scores and boxes of deploy/python/predict_cls.py and predict_det.py.

PaddleX needs its own environment (its image readers pin opencv-contrib-python 4.10, which
paddleclas's opencv pin excludes): these tests run ``tests/paddlex_driver.py`` with the
Python named by ``PPCLS_PADDLEX_PYTHON`` or ``.venv-paddlex/bin/python`` in the repository
(made by ``bash deploy/paddlex/make_venv.sh``), and skip, saying so, without it."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from engine_helpers import ROOT
from ppcls_infer import paddlex_plugin

DRIVER = os.path.join(ROOT, "tests", "paddlex_driver.py")
sys.path.insert(0, os.path.join(ROOT, "deploy", "python"))


def paddlex_python():
    path = os.environ.get("PPCLS_PADDLEX_PYTHON") or os.path.join(ROOT, ".venv-paddlex", "bin",
                                                                   "python")
    return path if os.path.isfile(path) else None


needs_paddlex = pytest.mark.skipif(
    paddlex_python() is None,
    reason="no PaddleX environment: run `bash deploy/paddlex/make_venv.sh` (makes "
           ".venv-paddlex) or set PPCLS_PADDLEX_PYTHON to a Python with paddlex 3.7.2")


def run_paddlex(args):
    env = dict(os.environ, PYTHONPATH=ROOT, PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK="True")
    result = subprocess.run([paddlex_python(), DRIVER, json.dumps(args)], capture_output=True,
                            text=True, timeout=600, env=env)
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("PADDLEX_RESULTS ")]
    assert result.returncode == 0 and lines, (result.stdout + result.stderr)[-4000:]
    return json.loads(lines[-1][len("PADDLEX_RESULTS "):])


# ---------------------------------------------------------------- without PaddleX
def _fake_export(folder, files, yml_name, content):
    os.makedirs(folder, exist_ok=True)
    for name in files:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(name.encode())
    with open(os.path.join(folder, yml_name), "w") as f:
        yaml.safe_dump(content, f)


def test_model_dir_for_a_classifier_export_names_the_model(tmp_path):
    folder = str(tmp_path / "cls")
    _fake_export(folder, ["inference.json", "inference.pdiparams", "inference.onnx"],
                 "inference.yml", {"Global": {"image_shape": [3, 32, 32]},
                                   "PreProcess": {"transform_ops": []}})
    assert paddlex_plugin.paddlex_model_dir(folder, "EConvNeXt_mini") == folder
    cfg = yaml.safe_load(open(os.path.join(folder, "inference.yml")))
    assert cfg["Global"] == {"image_shape": [3, 32, 32], "model_name": "EConvNeXt_mini"}
    assert list(cfg)[0] == "Global" and cfg["PreProcess"] == {"transform_ops": []}


def test_model_dir_for_a_detector_export_links_paddlex_names(tmp_path):
    folder, out = str(tmp_path / "det"), str(tmp_path / "pdx")
    cfg = {"mode": "paddle", "arch": "YOLO", "draw_threshold": 0.5, "label_list": ["a", "b"],
           "Preprocess": [{"type": "Permute"}]}
    _fake_export(folder, ["model.json", "model.pdiparams"], "infer_cfg.yml", cfg)
    paddlex_plugin.paddlex_model_dir(folder, "PP-YOLOE-S_EConvNeXt_mini", out)
    assert sorted(os.listdir(out)) == ["inference.json", "inference.pdiparams", "inference.yml"]
    assert open(os.path.join(out, "inference.pdiparams"), "rb").read() == b"model.pdiparams"
    written = yaml.safe_load(open(os.path.join(out, "inference.yml")))
    assert written == dict(cfg, Global={"model_name": "PP-YOLOE-S_EConvNeXt_mini"})


def test_model_dir_errors_name_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither inference.yml"):
        paddlex_plugin.paddlex_model_dir(str(tmp_path), "EConvNeXt_mini")
    _fake_export(str(tmp_path / "x"), [], "inference.yml", {})
    with pytest.raises(FileNotFoundError, match="no inference.pdiparams nor inference.onnx"):
        paddlex_plugin.paddlex_model_dir(str(tmp_path / "x"), "EConvNeXt_mini")


def test_detector_names_are_the_shipped_configs():
    """Every registered detector name is a shipped config of its family (PP-YOLOE, YOLOv10:
    what tools/det/export_model.py writes as the name of that config's export)."""
    for name, stem in paddlex_plugin.DETECTORS.items():
        assert os.path.isfile(os.path.join(ROOT, "configs", "detection", stem + ".yml")), stem
        family = name.split("-")[0] if name.startswith("YOLO") else "PP-YOLOE"
        assert stem.startswith(family.lower().replace("-", "")), (name, stem)
    assert {"YOLOv10-M_EConvNeXt_tiny", "YOLOv10-L_EConvNeXt_tiny"} <= set(
        paddlex_plugin.DETECTORS)


def test_register_without_paddlex_says_how_to_install():
    try:
        import paddlex  # noqa: F401
        pytest.skip("paddlex is importable here")
    except ImportError:
        pass
    with pytest.raises(ImportError, match=r"paddlex\[cv\]==3.7.2"):
        paddlex_plugin.register()


# ---------------------------------------------------------------- in PaddleX's environment
@pytest.fixture(scope="module")
def classifier(digits, tmp_path_factory):
    """A mini with non-trivial BN statistics exported with softmax (PaddleClas's default),
    plus ONNX: the folder tools/export_model.py --onnx writes, untouched."""
    from deploy_helpers import export_mini

    model_dir = export_mini(tmp_path_factory.mktemp("pdx_cls"), digits, add_softmax=True)[0]
    # the export alone names the model for PaddleX (Global.model_name = Arch.name)
    with open(os.path.join(model_dir, "inference.yml")) as f:
        assert yaml.safe_load(f)["Global"]["model_name"] == "EConvNeXt_mini"
    images = sorted(os.path.join(digits, "images", "val", f)
                    for f in os.listdir(os.path.join(digits, "images", "val")))[:6]
    return model_dir, images


@pytest.mark.integration
@needs_paddlex
def test_paddlex_classifier_matches_predict_cls(classifier):
    import predict_cls

    model_dir, images = classifier
    config = predict_cls.load_config(os.path.join(ROOT, "deploy", "configs",
                                                  "inference_cls.yaml"),
                                     [f"Global.inference_model_dir={model_dir}",
                                      "Global.batch_size=2", "PostProcess.Topk.topk=5"])
    ours, bad = predict_cls.ClsPredictor(config).predict(images)
    assert not bad and len(ours) == len(images)
    got = run_paddlex(dict(task="cls", model_name="EConvNeXt_mini", model_dir=model_dir,
                           images=images, engines=["paddle", "onnxruntime"], pipeline=True,
                           topk=5))
    for engine in ("paddle", "onnxruntime", "pipeline"):
        assert [r["path"] for r in got[engine]] == images, engine
        for mine, theirs in zip(ours, got[engine]):
            assert theirs["class_ids"][0] == mine["class_ids"][0], (engine, mine, theirs)
            np.testing.assert_allclose(theirs["scores"], mine["scores"], atol=2e-5,
                                       err_msg=engine)
            # below the top-1, ids may only swap where scores tie to 5 decimals
            for i, (a, b) in enumerate(zip(theirs["class_ids"], mine["class_ids"])):
                assert a == b or abs(theirs["scores"][i] - mine["scores"][i]) < 2e-5
            assert theirs["label_names"][0] == mine["label_names"][0]


def _export_detector(tmp, base, pdx_name, spread):
    """A tiny detector of config ``base`` with random weights made distinct by ``spread``,
    saved as the config's weights and exported by tools/det/export_model.py's command
    (PaddleDetection's files plus the PaddleX names). Returns (export folder, images)."""
    import paddle

    import ppcls_ext.det
    from det_helpers import make_tiny_coco, tiny_config
    from ppcls_ext.det.commands import export_model

    ppcls_ext.det.install()
    from ppdet.engine import Trainer

    from ppcls_ext.det.workspace import load_fresh_config

    data = make_tiny_coco(str(tmp / "data"), n_train=2, n_val=3)
    cfg_file = tiny_config(tmp, data, base=base, extra=f"pdx_model_name: {pdx_name}\n")
    trainer = Trainer(load_fresh_config(cfg_file), mode="test")
    spread(trainer.model)
    os.makedirs(str(tmp / "output" / "tiny"))
    paddle.save(trainer.model.state_dict(), str(tmp / "output" / "tiny" / "model_final.pdparams"))
    export_dir = export_model(["-c", cfg_file, "--output_dir", str(tmp / "inference")])
    with open(os.path.join(export_dir, "inference.yml")) as f:  # written by the export
        assert yaml.safe_load(f)["Global"]["model_name"] == pdx_name
    return export_dir, [os.path.join(data, "images", f"val_{i}.png") for i in range(3)]


def _spread_yolov10(model):
    """He-initialised convolutions saturate YOLOv10's scores at 1.0 (ties); damped last class
    and box convolutions with a class bias of -1 give 123-189 of the 189 rows per image above
    the export's 0.25, with distinct scores."""
    import paddle

    paddle.seed(1)
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.Conv2D):
            paddle.nn.initializer.KaimingNormal()(layer.weight)
    for branch in (model.yolo_head.one2one, model.yolo_head.one2many):
        for tower, scale in [(t, 3e-2) for t in branch.cls] + [(t, 1e-2) for t in branch.box]:
            tower[-1].weight.set_value(tower[-1].weight * scale)
        for tower in branch.cls:
            tower[-1].bias.set_value(paddle.full(tower[-1].bias.shape, -1.0))


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    """PP-YOLOE-S with an E-ConvNeXt-mini backbone (NMS in the model)."""
    from det_helpers import spread_outputs

    return _export_detector(tmp_path_factory.mktemp("pdx_det"),
                            "ppyoloe_s_econvnext_mini_36e_coco.yml",
                            "PP-YOLOE-S_EConvNeXt_mini", spread_outputs)


@pytest.fixture(scope="module")
def yolov10(tmp_path_factory):
    """YOLOv10-M with an E-ConvNeXt-tiny backbone (NMS-free: 189 rows at 96 px)."""
    return _export_detector(tmp_path_factory.mktemp("pdx_y10"),
                            "yolov10_m_econvnext_tiny_36e_coco.yml",
                            "YOLOv10-M_EConvNeXt_tiny", _spread_yolov10)


def _compare_with_predict_det(export_dir, images, pdx_name, threshold):
    """PaddleX's create_model (Paddle Inference, ONNX Runtime) and object-detection pipeline
    against deploy/python/predict_det.py on the same export: the same boxes (class, score,
    coordinates) above ``threshold`` (None: each side's default, the export's
    draw_threshold). Returns the box counts per image."""
    import predict_det

    ours = {}
    for backend in ("paddle", "onnxruntime"):  # the second converts model.onnx on first use
        predictor = predict_det.DetPredictor(export_dir, backend, threshold, 2, False)
        ours[backend] = [predictor.raw(p)[1] for p in images]
        cut = predictor.threshold
    pdx_dir = paddlex_plugin.paddlex_model_dir(export_dir, pdx_name)
    assert os.path.isfile(os.path.join(pdx_dir, "inference.onnx"))  # model.onnx, linked
    got = run_paddlex(dict(task="det", model_name=pdx_name, model_dir=pdx_dir, images=images,
                           engines=["paddle", "onnxruntime"], pipeline=True,
                           threshold=threshold))
    counts = []
    for engine, reference in (("paddle", "paddle"), ("pipeline", "paddle"),
                              ("onnxruntime", "onnxruntime")):
        for boxes, theirs in zip(ours[reference], got[engine]):
            mine = boxes[boxes[:, 1] > cut]  # PaddleX keeps score > threshold
            mine = mine[np.argsort(-mine[:, 1], kind="stable")]
            theirs = np.array(theirs["boxes"], dtype=np.float64).reshape(-1, 6)
            theirs = theirs[np.argsort(-theirs[:, 1], kind="stable")]
            assert len(theirs) == len(mine) > 0, engine
            # rows are matched, not compared by position: scores equal to 1e-5 may come out
            # in either order (YOLOv10 keeps 123-189 rows per image here)
            for row in mine:
                same = (theirs[:, 0] == row[0]) & (np.abs(theirs[:, 1] - row[1]) <= 1e-5) & \
                    (np.abs(theirs[:, 2:] - row[2:]).max(axis=1) <= 1e-3)
                assert same.any(), (engine, row)
            counts.append(len(mine))
    return counts


@pytest.mark.integration
@needs_paddlex
def test_paddlex_detector_matches_predict_det(detector):
    _compare_with_predict_det(*detector, "PP-YOLOE-S_EConvNeXt_mini", threshold=0.05)


@pytest.mark.integration
@needs_paddlex
def test_paddlex_yolov10_matches_predict_det_at_the_exports_threshold(yolov10):
    """The NMS-free YOLOv10 export under its registered name: PaddleX's detection predictor
    (no NMS of its own) gives predict_det.py's boxes, both at the export's default
    threshold 0.25 (draw_threshold of infer_cfg.yml, copied into inference.yml)."""
    export_dir, images = yolov10
    with open(os.path.join(export_dir, "inference.yml")) as f:
        assert yaml.safe_load(f)["draw_threshold"] == 0.25
    counts = _compare_with_predict_det(export_dir, images, "YOLOv10-M_EConvNeXt_tiny",
                                       threshold=None)
    assert max(counts) > 20  # many boxes compared, not one or two
