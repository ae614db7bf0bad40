"""The YOLOv10 configs under configs/detection: the paper's GFLOPs rows, two variants in one
process, the class-count check and a short PaddleDetection training run with the shipped reader.

GFLOPs are PaddleDetection's convention (2 x paddle.flops MACs at 640 x 640, BatchNorm
counted, the one-to-one head only); building the 640-px models takes ~10-25 s each on 2 cores.
"""
import json
import os
import sys

import numpy as np
import pytest

pytest.importorskip("ppdet")

import paddle  # noqa: E402

import ppcls_ext.det  # noqa: E402

ppcls_ext.det.install()  # Paddle 3 patches, EConvNeXt and YOLOv10 registered
from ppcls_ext.det.data_check import DatasetError, check_config_datasets  # noqa: E402
from ppcls_ext.det.workspace import load_fresh_config  # noqa: E402
from ppcls_ext.det.flops import detector_gflops  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from det_helpers import CONFIG_DIR, make_tiny_coco  # noqa: E402

pytestmark = pytest.mark.integration


def _build(config, **overrides):
    from ppdet.core.workspace import create
    cfg = load_fresh_config(os.path.join(CONFIG_DIR, config))
    if "EConvNeXt" in cfg:
        cfg["EConvNeXt"]["pretrained"] = None
    for section, values in overrides.items():
        if isinstance(values, dict):
            cfg[section].update(values)
        else:
            cfg[section] = values
    return cfg, create(cfg.architecture)


def _bn_epsilons(layer):
    return {m._epsilon for m in layer.sublayers()
            if isinstance(m, paddle.nn.layer.norm._BatchNormBase)}


def test_econvnext_rows_match_the_paper():
    # YOLOv10-M + E-ConvNeXt-tiny (8 classes): paper 69.9; YOLOv10-L + E-ConvNeXt-tiny
    # (4 classes): paper 78.0
    for config, classes, measured, paper in (
            ("yolov10_m_econvnext_tiny_36e_coco.yml", 8, 69.94, 69.9),
            ("yolov10_l_econvnext_tiny_36e_coco.yml", 4, 78.00, 78.0)):
        cfg, model = _build(config)
        assert cfg.num_classes == classes and type(model.backbone).__name__ == "EConvNeXt"
        gflops = detector_gflops(model)
        assert abs(gflops - paper) / paper < 0.005 and round(gflops, 2) == measured, config


def test_stock_and_convnext_rows_match_the_paper():
    # stock YOLOv10-L: paper 120; YOLOv10-M + ConvNeXt-tiny (PaddleDetection's): paper 94.3
    for config, measured, paper in (("yolov10_l_36e_coco.yml", 120.41, 120.0),
                                    ("yolov10_m_convnext_tiny_36e_coco.yml", 94.34, 94.3)):
        _, model = _build(config)
        gflops = detector_gflops(model)
        assert abs(gflops - paper) / paper < 0.005 and round(gflops, 2) == measured, config


@pytest.mark.slow
def test_authors_committed_m_file_is_86_7():
    # their "M" file: neck depth 1.0 and FPN [F, F], not the table's depth 0.67 / FPN [T, F]
    _, model = _build("yolov10_m_econvnext_tiny_36e_coco.yml", depth_mult=1.0,
                      YOLOv10PAN={"fpn_cib": [False, False]})
    assert round(detector_gflops(model), 2) == 86.71


def test_two_variants_in_one_process_do_not_share_settings():
    # small inputs only: the settings are what matters, not the size
    _, stock = _build("yolov10_l_36e_coco.yml", num_classes=2,
                      YOLOv10CSPDarkNet={"variant": "n"}, depth_mult=0.33,
                      YOLOv10PAN={"large_kernel": True, "fpn_cib": [False, False]})
    _, transfer = _build("yolov10_m_econvnext_tiny_36e_coco.yml", num_classes=3,
                         EConvNeXt={"arch": "mini"})
    assert type(stock.backbone).__name__ == "YOLOv10CSPDarkNet"
    assert type(transfer.backbone).__name__ == "EConvNeXt"
    # the second config's neck: its own base settings, not the first's overrides
    assert len(transfer.neck.fpn_p4.blocks) == 2  # round(3 * 0.67)
    assert type(transfer.neck.fpn_p4).__name__ == "C2fCIB"
    assert not hasattr(transfer.neck.pan_p5.blocks[0].block[2], "large")
    # the first model is untouched by building the second
    assert len(stock.neck.fpn_p4.blocks) == 1 and hasattr(stock.neck.pan_p5.blocks[0].block[2],
                                                           "large")
    assert stock.yolo_head.num_classes == 2 and transfer.yolo_head.num_classes == 3
    # YOLO BatchNorm settings on the YOLOv10 parts of both, the transferred backbone keeps its own
    assert _bn_epsilons(stock) == {1e-3}
    assert _bn_epsilons(transfer.neck) == _bn_epsilons(transfer.yolo_head) == {1e-3}
    assert _bn_epsilons(transfer.backbone) == {1e-5}


def test_a_momentum_config_does_not_leak_into_the_next_adamw_one():
    # PaddleDetection's load_config merges into one process-wide dict: without the reset the
    # stock config's "momentum: 0.9" stays in the AdamW arguments of the next config
    from ppdet.core.workspace import create, load_config
    load_fresh_config(os.path.join(CONFIG_DIR, "yolov10_l_36e_coco.yml"))
    leaked = load_config(os.path.join(CONFIG_DIR, "yolov10_m_econvnext_tiny_36e_coco.yml"))
    assert leaked["OptimizerBuilder"]["optimizer"].get("momentum") == 0.9  # the upstream leak
    cfg = load_fresh_config(os.path.join(CONFIG_DIR, "yolov10_m_econvnext_tiny_36e_coco.yml"))
    assert cfg["OptimizerBuilder"]["optimizer"] == {"type": "AdamW", "weight_decay": 0.0005}
    assert "regularizer" not in cfg["OptimizerBuilder"] and cfg.num_classes == 8
    layer = paddle.nn.Linear(2, 2)
    optimizer = create("OptimizerBuilder")(create("LearningRate")(1), layer)
    assert type(optimizer).__name__ == "AdamW"


def test_num_classes_that_disagrees_with_the_data_is_one_clear_error(tmp_path):
    root = make_tiny_coco(str(tmp_path / "data"), n_train=2, n_val=1, size=64)  # 2 categories
    cfg = load_fresh_config(os.path.join(CONFIG_DIR, "yolov10_m_econvnext_tiny_36e_coco.yml"))
    assert cfg.num_classes == 8  # the sonar setting
    for mode, anno in (("TrainDataset", "train.json"), ("EvalDataset", "val.json")):
        cfg[mode].update(dataset_dir=root, image_dir="images", anno_path=anno)
    with pytest.raises(DatasetError) as err:
        check_config_datasets(cfg, log=lambda *_: None)
    message = str(err.value)
    assert "\n" not in message
    assert message.endswith("train.json has 2 categories but num_classes is 8; set "
                            "num_classes: 2 in the config (the detector's class count must "
                            "equal the data set's)")
    cfg["num_classes"] = 1
    with pytest.raises(DatasetError, match="has 2 categories but num_classes is 1; set "
                                           "num_classes: 2 in the config or remove"):
        check_config_datasets(cfg, log=lambda *_: None)
    cfg["num_classes"] = 2
    assert set(check_config_datasets(cfg, log=lambda *_: None)) == {"TrainDataset",
                                                                     "EvalDataset"}


def test_trainer_trains_and_evaluates_with_the_shipped_reader(tmp_path):
    """PaddleDetection's Trainer on the YOLOv10 base model and reader (mosaic, RandomHSV, flip,
    mosaic_epoch), 2 epochs of 2 iterations at 96 px, then COCO evaluation."""
    from ppdet.engine import Trainer
    root = make_tiny_coco(str(tmp_path / "data"), n_train=8, n_val=2, size=96)
    size = 96
    text = f"""_BASE_: ['{os.path.join(CONFIG_DIR, "yolov10_m_econvnext_tiny_36e_coco.yml")}']
use_gpu: false
num_classes: 2
epoch: 2
log_iter: 1
snapshot_epoch: 2
save_dir: {tmp_path}/output
worker_num: 0
depth_mult: 0.33
weights: {tmp_path}/output/tiny/model_final
EConvNeXt: {{arch: mini, pretrained: ~}}
TrainDataset: {{name: COCODataSet, dataset_dir: {root}, image_dir: images, anno_path: train.json,
  data_fields: ['image', 'gt_bbox', 'gt_class', 'is_crowd']}}
EvalDataset: {{name: COCODataSet, dataset_dir: {root}, image_dir: images, anno_path: val.json}}
TrainReader:
  sample_transforms:
    - Decode: {{}}
    - Mosaic: {{prob: 1.0, input_dim: [{size}, {size}], degrees: [0, 0], translate: [-0.1, 0.1],
        scale: [0.5, 1.5], shear: [0, 0], enable_mixup: false}}
    - RandomHSV: {{hgain: 0.015, sgain: 0.7, vgain: 0.4}}
    - RandomFlip: {{}}
    - Resize: {{target_size: [{size}, {size}], keep_ratio: false, interp: 1}}
  mosaic_epoch: 1
  use_shared_memory: false
EvalReader:
  sample_transforms:
    - Decode: {{}}
    - Resize: {{target_size: [{size}, {size}], keep_ratio: false, interp: 1}}
    - NormalizeImage: {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}
    - Permute: {{}}
"""
    path = tmp_path / "tiny.yml"
    path.write_text(text)
    cfg = load_fresh_config(str(path))
    paddle.set_device("cpu")
    cwd = os.getcwd()
    os.chdir(tmp_path)  # PaddleDetection's COCO evaluation writes bbox.json to the cwd
    try:
        trainer = Trainer(cfg, mode="train")
        assert trainer.loader.dataset.mosaic_epoch == 1
        trainer.train(validate=True)
    finally:
        os.chdir(cwd)
    assert os.path.isfile(f"{tmp_path}/output/tiny/model_final.pdparams")
    with open(tmp_path / "bbox.json") as f:
        detections = json.load(f)
    # NMS-free output: min(300, anchors) = 189 rows per image at 96 px, 2 val images
    assert len(detections) == 2 * 189
    assert {d["category_id"] for d in detections} <= {1, 2}
    assert np.isfinite([d["score"] for d in detections]).all()


def test_classification_checkpoint_as_pretrain_weights_keeps_the_yolo_settings(tmp_path):
    """A tools/train.py E-ConvNeXt checkpoint given as pretrain_weights fills the backbone of a
    YOLOv10 (classifier dropped) after the YOLOv10 parts were initialised, and changes nothing
    else: neck/head weights and BatchNorm settings stay as built."""
    from ppcls_ext.arch.econvnext import EConvNeXt as Classifier
    from ppdet.utils.checkpoint import load_pretrain_weight
    paddle.seed(3)
    classifier = Classifier(arch="mini", class_num=10)
    path = str(tmp_path / "cls.pdparams")
    paddle.save(classifier.state_dict(), path)
    _, model = _build("yolov10_m_econvnext_tiny_36e_coco.yml", num_classes=2,
                      EConvNeXt={"arch": "mini"})
    neck_before = {k: v.numpy().copy() for k, v in model.neck.state_dict().items()}
    load_pretrain_weight(model, path)  # the function PaddleDetection's Trainer calls
    reference = classifier.state_dict()
    for key, value in model.backbone.state_dict().items():
        if key in reference:
            np.testing.assert_array_equal(value.numpy(), reference[key].numpy())
    for key, value in model.neck.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), neck_before[key])
    assert _bn_epsilons(model.neck) == {1e-3} and _bn_epsilons(model.backbone) == {1e-5}


def test_install_registers_yolov10_and_uninstall_removes_it():
    import subprocess
    code = """
import ppcls_ext.det as det
import ppdet.data.transform as transform
from ppdet.core.workspace import global_config
from ppdet.data.transform.operators import BaseOperator
names = ("YOLOv10", "YOLOv10CSPDarkNet", "YOLOv10PAN", "YOLOv10Head", "CIoUTaskAlignedAssigner")
import ppcls_ext.det.yolov10  # importing registers nothing
assert not any(n in global_config for n in names) and not hasattr(transform, "RandomHSV")
assert "det.register_yolov10" in det.install()
assert all(n in global_config for n in names) and hasattr(BaseOperator, "RandomHSV")
det.uninstall()
assert not any(n in global_config for n in names)
assert not hasattr(transform, "RandomHSV") and not hasattr(BaseOperator, "RandomHSV")
with det.installed():
    assert transform.RandomHSV is ppcls_ext.det.yolov10.RandomHSV
print("OK")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "OK"


def test_train_tool_with_the_wrong_num_classes_is_one_error_line(tmp_path):
    """tools/det/train.py on the sonar config (8 classes) with a 2-class data set: one
    ``error:`` line naming the annotation file and the fix, exit status 2, no file written."""
    import subprocess
    root = make_tiny_coco(str(tmp_path / "data"), n_train=2, n_val=1, size=64)
    tool = os.path.join(os.path.dirname(CONFIG_DIR), "..", "tools", "det", "train.py")
    result = subprocess.run(
        [sys.executable, tool, "-c", os.path.join(CONFIG_DIR,
                                                 "yolov10_m_econvnext_tiny_36e_coco.yml"),
         "-o", "use_gpu=false", f"save_dir={tmp_path}/output",
         f"TrainDataset.dataset_dir={root}", "TrainDataset.image_dir=images",
         "TrainDataset.anno_path=train.json"],
        capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "train.json has 2 categories but num_classes is 8; set num_classes: 2" in errors[0]
    written = [f for _, _, files in os.walk(tmp_path / "output") for f in files]
    assert written == []  # no checkpoint, no log
