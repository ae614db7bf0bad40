"""Detector weights (ppcls_ext.det.weights): eval, infer, export and -r take weights of this
very detector or refuse in one line (another class count names both counts and
-o num_classes=K); pretrain_weights of another class count still seeds training, the head's
class layers skipped in one line; with weights given nothing else is loaded first.

PP-YOLOE and YOLOv10 (E-ConvNeXt-mini backbone) at 64 px, random weights."""
import logging
import os

import numpy as np
import paddle
import pytest

pytest.importorskip("ppdet")

from det_helpers import make_tiny_coco, tiny_config  # noqa: E402

pytestmark = pytest.mark.integration

BASES = {"ppyoloe": "ppyoloe_s_econvnext_mini_36e_coco.yml",
         "yolov10": "quick_start/yolov10_m_econvnext_mini_digits.yml"}
CLASS_CONV = {"ppyoloe": "yolo_head.pred_cls.0.weight",
              "yolov10": "yolo_head.one2one.cls.0.4.weight"}


def _model(cfg_path, num_classes=None, backbone=None):
    """The config's detector (``num_classes``, ``EConvNeXt.pretrained`` overridden)."""
    import ppcls_ext.det

    ppcls_ext.det.install()
    from ppdet.engine import Trainer

    from ppcls_ext.det.workspace import load_fresh_config

    cfg = load_fresh_config(cfg_path)
    if num_classes:
        cfg["num_classes"] = num_classes
    if backbone:
        cfg["EConvNeXt"]["pretrained"] = backbone
    return Trainer(cfg, mode="test").model


@pytest.fixture(scope="module", params=sorted(BASES))
def det(request, tmp_path_factory):
    """(arch, tmp, config (2 classes), image, weights for 2 classes, weights for 3 classes)."""
    tmp = tmp_path_factory.mktemp(f"det_weights_{request.param}")
    data = make_tiny_coco(str(tmp / "data"), n_train=2, n_val=2, size=64)
    cfg = tiny_config(tmp, data, base=BASES[request.param], size=64)
    paddle.seed(0)
    two = str(tmp / "two.pdparams")
    paddle.save(_model(cfg).state_dict(), two)
    three = str(tmp / "three.pdparams")
    paddle.save(_model(cfg, num_classes=3).state_dict(), three)
    image = os.path.join(data, "images", "val_0.png")
    return request.param, tmp, cfg, image, two, three


class _Log(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def take(self):
        text, self.lines = "\n".join(self.lines), []
        return text


@pytest.fixture
def log(det):
    """The messages of PaddleDetection's and this project's loggers (their handlers write to
    the sys.stdout of when they were made, which pytest's capture may not see)."""
    handler = _Log()
    loggers = [lg for name, lg in logging.root.manager.loggerDict.items()
               if isinstance(lg, logging.Logger) and name.startswith(("ppdet", "ppcls_ext"))]
    for lg in loggers:
        lg.addHandler(handler)
    yield handler
    for lg in loggers:
        lg.removeHandler(handler)


def _tool_argv(tool, det, weights, *extra):
    _, tmp, cfg, image, _, _ = det
    argv = ["-c", cfg, "-o", f"weights={weights}", *extra]
    if tool == "infer":
        argv += ["--infer_img", image, "--output_dir", str(tmp / "drawn")]
    if tool == "export_model":
        argv += ["--output_dir", str(tmp / "inference")]
    return argv


def _one_error(capsys, tool, argv):
    from ppcls_ext.det import commands

    with pytest.raises(SystemExit) as exc:
        getattr(commands, tool)(argv)
    # (Paddle itself may print its "Modified FLAGS detected" banner on stderr)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert exc.value.code == 2 and len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("tool", ["infer", "evaluate", "export_model"])
def test_weights_of_another_class_count_are_refused(det, tool, capsys):
    """Before: PaddleDetection skipped the head's class layers with an INFO line and the tool
    predicted (and exported) from a head left at its initialisation."""
    arch, tmp, _, _, _, three = det
    line = _one_error(capsys, tool, _tool_argv(tool, det, three))
    assert line.startswith(f"error: weights {three}: its head was trained for 3 classes "
                           f"({CLASS_CONV[arch]} [3, "), line
    assert "config has num_classes: 2" in line and "-o num_classes=3" in line
    assert not os.path.exists(tmp / "inference")  # nothing exported


def test_resume_of_another_class_count_is_refused(det, capsys):
    arch, tmp, cfg, _, _, three = det
    line = _one_error(capsys, "train", ["-c", cfg, "-r", three[:-len(".pdparams")],
                                        "-o", f"save_dir={tmp}/resume"])
    assert line.startswith(f"error: -r/--resume {three}: its head was trained for 3 classes")
    assert "-o num_classes=3" in line


def test_matching_class_count_override_loads(det, log):
    """The way out the message names: -o num_classes=3 with the 3-class weights predicts."""
    _, tmp, cfg, image, _, three = det
    from det_helpers import run_det_tool

    out = run_det_tool("infer", "-c", cfg, "-o", f"weights={three}", "-o", "num_classes=3",
                       "-o", "TestDataset.anno_path=~", "--infer_img", image,
                       "--output_dir", str(tmp / "drawn3"))
    assert os.path.isfile(out[0])
    assert f"Finish loading model weights: {three}" in log.take()


@pytest.mark.parametrize("damage", ["missing", "shape"])
def test_other_mismatched_or_missing_tensors_are_refused(det, damage, tmp_path, capsys):
    """Weights of another backbone size or neck: refused naming the tensors (PaddleDetection
    skipped them and went on with those layers at their initialisation)."""
    _, _, _, _, two, _ = det
    state = paddle.load(two)
    key = "neck.fpn_stages.0.0.conv1.conv.weight" if "neck.fpn_stages.0.0.conv1.conv.weight" \
        in state else next(k for k in state if k.startswith("neck.") and k.endswith("weight")
                           and len(state[k].shape) == 4)
    if damage == "missing":
        del state[key]
        want = f"tensors missing ({key})"  # and no "0 tensors of another shape ()"
    else:
        shape = list(state[key].shape)
        state[key] = paddle.zeros([shape[0] + 1] + shape[1:])
        want = f"1 tensors of another shape ({key} [{shape[0] + 1}, "
    bad = str(tmp_path / "bad.pdparams")
    paddle.save(state, bad)
    line = _one_error(capsys, "infer", _tool_argv("infer", det, bad))
    assert line.startswith(f"error: weights {bad} does not fit this detector: "), line
    assert want in line and "use the config they were trained with" in line
    assert "another shape ()" not in line


def test_classification_checkpoint_as_weights_is_refused(det, tmp_path, capsys):
    from ppcls_ext.arch.econvnext import EConvNeXt

    path = str(tmp_path / "cls.pdparams")
    paddle.save(EConvNeXt(arch="mini", class_num=10).state_dict(), path)
    line = _one_error(capsys, "evaluate", _tool_argv("evaluate", det, path))
    assert line.startswith(f"error: weights {path} is an E-ConvNeXt classification "
                           "checkpoint, not a detector's")


def test_pretrain_weights_of_another_class_count_seed_fine_tuning(det, log):
    """The fine-tuning case keeps PaddleDetection's skipping: everything but the head's class
    layers is loaded; the class layers keep their initialisation; one summary line."""
    import ppdet.utils.checkpoint as checkpoint

    arch, _, cfg, _, _, three = det
    model = _model(cfg)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    log.take()
    checkpoint.load_pretrain_weight(model, three)  # the Trainer's (patched) loader
    text = log.take()
    lines = [ln for ln in text.splitlines() if "pretrain_weights" in ln]
    assert len(lines) == 1 and "unmatched" not in text, text
    source = paddle.load(three)
    after = model.state_dict()
    towers = (("yolo_head.pred_cls.",) if arch == "ppyoloe"
              else ("yolo_head.one2one.cls.", "yolo_head.one2many.cls."))
    skipped = [k for k in after if tuple(source[k].shape) != tuple(after[k].shape)]
    assert skipped and all(k.startswith(towers) for k in skipped)
    assert f"loaded {len(after) - len(skipped)}/{len(after)} tensors" in lines[0]
    assert f"{len(skipped)} tensors of the head's class layers (3 classes in the file, " \
           "num_classes 2) start from initialisation" in lines[0]
    for key, value in after.items():
        want = before[key] if key in skipped else source[key].numpy()
        np.testing.assert_array_equal(value.numpy(), want, err_msg=key)


def test_weights_are_the_only_load(det, tmp_path, log):
    """A config whose backbone names a classification checkpoint (the shipped configs do):
    eval, infer and export with weights load only those (before: the backbone checkpoint was
    loaded and logged first, then overwritten)."""
    from ppcls_ext.arch.econvnext import EConvNeXt
    from det_helpers import run_det_tool

    _, tmp, cfg, image, two, _ = det
    backbone = str(tmp_path / "cls.pdparams")
    paddle.save(EConvNeXt(arch="mini", class_num=10).state_dict(), backbone)
    pretrained = ["-o", f"EConvNeXt.pretrained={backbone}"]
    _model(cfg, backbone=backbone)  # the backbone loads it when built
    assert "E-ConvNeXt backbone: loaded" in log.take()
    for tool, extra in (("infer", ["--infer_img", image, "--output_dir", str(tmp / "d")]),
                        ("eval", []),
                        ("export_model", ["--output_dir", str(tmp_path / "inference")])):
        run_det_tool(tool, "-c", cfg, "-o", f"weights={two}", *pretrained, *extra)
        out = log.take()
        assert "E-ConvNeXt backbone" not in out and backbone not in out, (tool, out[-2000:])
        assert out.count("Finish loading model weights") == 1, (tool, out[-2000:])
        assert f"Finish loading model weights: {two}" in out, tool


def test_mistyped_pretrain_weights_on_the_command_line_is_refused(det, tmp_path, capsys):
    """-o pretrain_weights=<typo>: one line, nothing trained or overwritten (a config's own
    pretrain_weights that does not exist yet still only warns: tests/test_det_train.py)."""
    _, _, cfg, _, _, _ = det
    typo = str(tmp_path / "nope")
    line = _one_error(capsys, "train", ["-c", cfg, "-o", f"pretrain_weights={typo}",
                                        f"save_dir={tmp_path / 'out'}"])
    assert line.startswith(f"error: -o pretrain_weights={typo}: no such checkpoint ({typo}.")
    assert not (tmp_path / "out").exists()
