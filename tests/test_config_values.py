"""Numeric config values (``ppcls_ext.validation.check_values``): a wrong type or a value out
of range is one line naming the key, the ``-o`` item or file it came from, what is valid and
what was given, before any model or data is built; the error policy keeps tracebacks for
bugs only."""
import os
import subprocess
import sys
import types

import pytest
import yaml

from engine_helpers import QUICK_START, ROOT
from ppcls_ext.validation import ConfigError
from ppcls_infer.cli import UserError, run

DET_QUICK_START = os.path.join(ROOT, "configs", "detection", "quick_start",
                               "ppyoloe_s_econvnext_mini_digits.yml")
DEBUG_HINT = " (PPCLS_DEBUG=1 shows the traceback)"
BATCH = "images per device"
EPOCHS = "training epochs; 0 would train nothing"
WORKERS = "loader processes; 0 loads in the training process"
MIX = "DataLoader.Train.dataset.batch_transform_ops"


def _load(overrides, path=QUICK_START):
    from ppcls_ext.engine.config import load_config

    return load_config(path, overrides)


def _message(overrides, path=QUICK_START):
    with pytest.raises(ConfigError) as exc:
        _load(overrides, path)
    return str(exc.value)


@pytest.mark.parametrize("item,expected", [
    # the reported input and its neighbours: batch sizes and loader workers
    ("DataLoader.Train.sampler.batch_size=0",
     f"DataLoader.Train.sampler.batch_size must be an integer >= 1 ({BATCH}), got 0"),
    ("DataLoader.Train.sampler.batch_size=-4",
     f"DataLoader.Train.sampler.batch_size must be an integer >= 1 ({BATCH}), got -4"),
    ("DataLoader.Train.sampler.batch_size=4.5",
     f"DataLoader.Train.sampler.batch_size must be an integer >= 1 ({BATCH}), got 4.5"),
    ("DataLoader.Eval.sampler.batch_size=0",
     f"DataLoader.Eval.sampler.batch_size must be an integer >= 1 ({BATCH}), got 0"),
    ("Infer.batch_size=0",
     "Infer.batch_size must be an integer >= 1 (images per forward pass), got 0"),
    ("DataLoader.Train.loader.num_workers=-1",
     f"DataLoader.Train.loader.num_workers must be an integer >= 0 ({WORKERS}), got -1"),
    # epochs and the other Global counters
    ("Global.epochs=one", f"Global.epochs must be an integer >= 1 ({EPOCHS}), got 'one'"),
    ("Global.epochs=0", f"Global.epochs must be an integer >= 1 ({EPOCHS}), got 0"),
    ("Global.epochs=2.5", f"Global.epochs must be an integer >= 1 ({EPOCHS}), got 2.5"),
    ("Global.epochs=true", f"Global.epochs must be an integer >= 1 ({EPOCHS}), got True"),
    ("Global.print_batch_step=0", "Global.print_batch_step must be an integer >= 1 "
                                  "(iterations between log lines), got 0"),
    ("Global.save_interval=-1", "Global.save_interval must be an integer >= 0 (epochs between "
                                "epoch_N checkpoints; 0: only latest and best_model), got -1"),
    ("Global.eval_interval=0", "Global.eval_interval must be an integer >= 1 (epochs between "
                               "evaluations), got 0"),
    ("Global.update_freq=0", "Global.update_freq must be an integer >= 1 (micro-batches "
                             "accumulated per optimizer step), got 0"),
    ("Arch.class_num=ten", "Arch.class_num must be an integer >= 1 (classes), got 'ten'"),
    ("Global.image_shape=[3,32]",
     "Global.image_shape must be a list of 3 integers >= 1 ([C, H, W]), got [3, 32]"),
    # optimizer, schedule, EMA, label smoothing, mixing
    ("Optimizer.lr.learning_rate=-0.1",
     "Optimizer.lr.learning_rate must be a number > 0 (the peak learning rate), got -0.1"),
    ("Optimizer.lr.learning_rate=fast",
     "Optimizer.lr.learning_rate must be a number > 0 (the peak learning rate), got 'fast'"),
    ("Optimizer.lr.warmup_epoch=-1", "Optimizer.lr.warmup_epoch must be a number >= 0 "
                                     "(epochs of linear warm-up), got -1"),
    ("Optimizer.weight_decay=-0.05",
     "Optimizer.weight_decay must be a number >= 0 (decoupled weight decay), got -0.05"),
    ("Optimizer.beta2=1", "Optimizer.beta2 must be a number in [0, 1), got 1"),
    ("EMA.decay=1.0", "EMA.decay must be a number in [0, 1) (weight of the running average "
                      "per step), got 1.0"),
    ("EMA.decay=-0.1", "EMA.decay must be a number in [0, 1) (weight of the running average "
                       "per step), got -0.1"),
    ("Loss.Train.0.CELoss.epsilon=1.0",
     "Loss.Train.0.CELoss.epsilon must be a number in [0, 1) (label smoothing), got 1.0"),
    ("DataLoader.Train.dataset.transform_ops.1.RandCropImage.size=0",
     "DataLoader.Train.dataset.transform_ops.1.RandCropImage.size must be an integer >= 1 or "
     "a list of 2 integers >= 1 (pixels: a side or [w, h]), or null, got 0"),
    ("Infer.transforms.1.ResizeImage.size=[32, 0]",
     "Infer.transforms.1.ResizeImage.size must be an integer >= 1 or a list of 2 integers >= 1 "
     "(pixels: a side or [w, h]), or null, got [32, 0]"),
    ("Metric.Eval.0.TopkAcc.topk=[0, 5]",
     "Metric.Eval.0.TopkAcc.topk must be an integer >= 1 or a list of one or more integers "
     ">= 1 (the k of each top-k accuracy), got [0, 5]"),
    ("Optimizer.lr=0.1",
     "Optimizer.lr must be a mapping such as {name: Cosine, learning_rate: 0.001}, got 0.1"),
])
def test_override_value_is_one_line_naming_key_and_item(item, expected):
    assert _message([item]) == f"-o {item}: {expected}"


def test_value_inside_an_overridden_section_names_that_item():
    """A whole section given by -o: the item that set it is the culprit."""
    item = f"{MIX}=[{{MixupOperator: {{alpha: -1}}}}]"
    assert _message([item]) == (f"-o {item}: {MIX}.0.MixupOperator.alpha must be a number > 0 "
                                "(Beta(alpha, alpha) mixing), got -1")
    item = "Optimizer.lr={name: Cosine, learning_rate: 0}"
    assert _message(["Optimizer.lr.learning_rate=0.1", item]).startswith(
        f"-o {item}: Optimizer.lr.learning_rate must be a number > 0")


def _config_file(tmp_path, edit):
    with open(QUICK_START) as f:
        config = yaml.safe_load(f)
    edit(config)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_value_from_the_file_names_the_file(tmp_path):
    """PaddleClas's parse_config reads a quoted "4" as 4 (literal_eval), so does this project;
    text that is no number is refused naming the file."""
    def quoted(value):
        def edit(config):
            config["DataLoader"]["Train"]["sampler"]["batch_size"] = value
        return _config_file(tmp_path, edit)
    assert _load([], quoted("4")).DataLoader.Train.sampler.batch_size == 4
    path = quoted("four")
    assert _message([], path) == (f"{path}: DataLoader.Train.sampler.batch_size must be an "
                                  f"integer >= 1 ({BATCH}), got 'four'")


def test_valid_values_in_every_paddleclas_form_still_load(tmp_path):
    config = _load(["Optimizer.lr.learning_rate=1e-3", "Global.seed=null",
                    "Global.save_interval=0", "Optimizer.clip_norm=null",
                    "Optimizer.lr={name: Cosine, learning_rate: 0.004, warmup_epoch: 0}",
                    f"{MIX}=[{{MixupOperator: {{alpha: 0.8}}}}]",
                    "Global.image_shape=[3, 32, 32]", "Loss.Train.0.CELoss.epsilon=0",
                    "Metric.Eval.0.TopkAcc.topk=1",
                    "DataLoader.Eval.dataset.transform_ops.1.ResizeImage.size=[32, 32]"])
    assert config.Optimizer.lr == {"name": "Cosine", "learning_rate": 0.004, "warmup_epoch": 0}
    assert config.Global.seed is None and config.Global.save_interval == 0

    def yaml11_floats(config):  # PyYAML reads 1e-3 (no dot) as text: taken as the number
        config["Optimizer"]["lr"]["learning_rate"] = "1e-3"
        config["Optimizer"]["weight_decay"] = "5e-2"
    config = _load([], _config_file(tmp_path, yaml11_floats))
    assert config.Optimizer.lr.learning_rate == 1e-3 and config.Optimizer.weight_decay == 0.05


def test_train_tool_reports_one_line_before_building_anything(capsys, monkeypatch):
    """``tools/train.py ... -o DataLoader.Train.sampler.batch_size=0`` in-process: exit 2, one
    line, and nothing built (the engine is never constructed)."""
    from ppcls_ext import commands, engine

    monkeypatch.delenv("PPCLS_DEBUG", raising=False)
    monkeypatch.setattr(engine, "Engine", lambda *a, **k: pytest.fail("Engine was built"))
    for item, line in [
            ("DataLoader.Train.sampler.batch_size=0",
             f"DataLoader.Train.sampler.batch_size must be an integer >= 1 ({BATCH}), got 0"),
            ("Global.epochs=one", f"Global.epochs must be an integer >= 1 ({EPOCHS}), got 'one'")]:
        with pytest.raises(SystemExit) as exc:
            commands.train(["-c", QUICK_START, "-o", item])
        err = capsys.readouterr().err.splitlines()
        assert exc.value.code == 2 and err == [f"error: -o {item}: {line}{DEBUG_HINT}"]


def test_resumed_run_at_its_last_epoch_says_nothing_was_trained(ppcls_warnings):
    """A checkpoint at Global.epochs: no epoch runs (as PaddleClas), and the log says why."""
    from ppcls_ext.engine import loops

    placed = []
    fake = types.SimpleNamespace(
        config={"Global": {"checkpoints": "output/m/latest"}}, epochs=3, step_each_epoch=5,
        states={"epoch": 3, "global_step": 15, "best_metric": 0.9, "best_epoch": 3},
        lr_scheduler=types.SimpleNamespace(step=placed.append),
        recorder=types.SimpleNamespace(plot=lambda: None, close=lambda: None, resume=lambda e: 0),
        output_lock=None)
    assert loops._train(fake)["global_step"] == 15 and placed == [15]
    assert ppcls_warnings == [
        "Nothing to train: the checkpoint output/m/latest is at epoch 3 and Global.epochs is 3; "
        "raise Global.epochs to train further. Checkpoints are left as they are."]


# ------------------------------------------------------------------ the error policy (cli)
def test_programming_bug_valueerror_keeps_its_traceback(capsys, monkeypatch):
    """A plain ValueError / FileNotFoundError inside a tool is a bug: re-raised (traceback),
    while the project's user errors of the same built-in types stay one line."""
    from ppcls_ext import commands
    from ppcls_ext.validation import DataError, MissingFileError, UnreadableImagesError

    monkeypatch.delenv("PPCLS_DEBUG", raising=False)

    def bug(mode, args):
        raise ValueError("math domain error")
    monkeypatch.setattr(commands, "_engine", bug)
    with pytest.raises(ValueError, match="math domain error"):
        commands.train(["-c", QUICK_START])
    for exc in (FileNotFoundError("x"), KeyError("k")):
        with pytest.raises(type(exc)):
            run(lambda exc=exc: (_ for _ in ()).throw(exc))
    for exc in (DataError("labels.txt lists no images"),
                MissingFileError("config file 'x.yaml' does not exist"),
                UnreadableImagesError("none of the 4 images could be decoded")):
        assert isinstance(exc, (ValueError, FileNotFoundError, RuntimeError))
        assert isinstance(exc, UserError)
        with pytest.raises(SystemExit) as status:
            run(lambda exc=exc: (_ for _ in ()).throw(exc))
        assert status.value.code == 2
        assert capsys.readouterr().err == f"error: {exc}{DEBUG_HINT}\n"


def test_arch_pretrained_of_the_wrong_kind_is_one_line(capsys, monkeypatch):
    """``-o Arch.pretrained=3``: the model refuses it as a user error (still a TypeError for
    Python callers), so the tool prints one line instead of a traceback."""
    import ppcls_ext
    from ppcls_ext import commands

    with pytest.raises(TypeError, match="pretrained .Arch.pretrained. must be False"):
        ppcls_ext.EConvNeXt_mini(pretrained=3)
    monkeypatch.delenv("PPCLS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        commands.evaluate(["-c", QUICK_START, "-o", "Global.device=cpu", "-o",
                           "Arch.pretrained=3"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: EConvNeXt_mini: pretrained (Arch.pretrained) must be False, a "
        f".pdparams/.safetensors path or a URL, got 3{DEBUG_HINT}")


def test_missing_config_file_is_still_one_line(capsys, monkeypatch):
    from ppcls_ext import commands

    monkeypatch.delenv("PPCLS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        commands.train(["-c", "no/such.yaml"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == \
        f"error: config file 'no/such.yaml' does not exist{DEBUG_HINT}\n"


@pytest.mark.integration
def test_reported_train_command_is_one_line_without_traceback():
    """The reported command, as a user runs it."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("PPCLS_DEBUG", None)
    item = "DataLoader.Train.sampler.batch_size=0"
    proc = subprocess.run([sys.executable, "tools/train.py", "-c", QUICK_START, "-o", item],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.splitlines()[-1] == (
        f"error: -o {item}: DataLoader.Train.sampler.batch_size must be an integer >= 1 "
        f"({BATCH}), got 0{DEBUG_HINT}")


@pytest.mark.integration
def test_programming_bug_in_a_tool_process_prints_its_traceback():
    """As a user sees it: a plain ValueError raised inside tools/train.py's command is a
    traceback and exit status 1, not an ``error:`` line."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("PPCLS_DEBUG", None)
    code = ("import ppcls_ext.commands as c\n"
            "def bug(mode, args):\n    raise ValueError('a bug, not a user mistake')\n"
            f"c._engine = bug\nc.train(['-c', {QUICK_START!r}])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 1 and "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.splitlines()[-1] == "ValueError: a bug, not a user mistake"
    assert "error:" not in proc.stderr


# ------------------------------------------------------------------------------- detection
@pytest.mark.integration
@pytest.mark.parametrize("item,expected", [
    ("epoch=0", f"epoch must be an integer >= 1 ({EPOCHS}), got 0"),
    ("epoch=one", f"epoch must be an integer >= 1 ({EPOCHS}), got 'one'"),
    ("TrainReader.batch_size=0", f"TrainReader.batch_size must be an integer >= 1 ({BATCH}), "
                                 "got 0"),
    ("EvalReader.batch_size=2.5", f"EvalReader.batch_size must be an integer >= 1 ({BATCH}), "
                                  "got 2.5"),
    ("LearningRate.base_lr=-0.001", "LearningRate.base_lr must be a number > 0 (the base "
                                    "learning rate), got -0.001"),
    ("snapshot_epoch=0", "snapshot_epoch must be an integer >= 1 (epochs between checkpoints "
                         "and --eval evaluations), got 0"),
    ("num_classes=0", "num_classes must be an integer >= 1 (object classes), got 0"),
    ("worker_num=-1", f"worker_num must be an integer >= 0 ({WORKERS}), got -1"),
    ("ema_decay=1", "ema_decay must be a number in [0, 1) (weight of the running average per "
                    "step), got 1"),
])
def test_det_values_are_one_line(item, expected, capsys, monkeypatch):
    from ppcls_ext.det import commands

    monkeypatch.delenv("PPCLS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        commands.train(["-c", DET_QUICK_START, "-o", item])
    err = capsys.readouterr().err.splitlines()
    assert exc.value.code == 2 and err[-1] == f"error: -o {item}: {expected}{DEBUG_HINT}", err


@pytest.mark.integration
def test_det_value_from_the_files_names_the_config(tmp_path):
    """ppdet keeps a quoted "8" as text (its BatchSampler would assert): refused with a hint."""
    from ppcls_ext.det import commands

    config = tmp_path / "configs" / "m.yml"
    config.parent.mkdir()
    for text, expected in [
            ("epoch: 0", f"epoch must be an integer >= 1 ({EPOCHS}), got 0"),
            ("TrainReader: {batch_size: '8'}",
             f"TrainReader.batch_size must be an integer >= 1 ({BATCH}), got '8' (a quoted "
             "string: write the number without quotes)")]:
        config.write_text(f"_BASE_: ['{DET_QUICK_START}']\n{text}\n")
        with pytest.raises(ConfigError) as exc:
            commands.load(commands.train_parser().parse_args(
                ["-c", str(config), "--allow_base_outside"]))
        assert str(exc.value) == f"{config} (or its _BASE_ files): {expected}"


def _predict_cls():
    from deploy_helpers import DEPLOY_PY
    if DEPLOY_PY not in sys.path:
        sys.path.insert(0, DEPLOY_PY)
    import predict_cls

    return predict_cls


DEPLOY_CONFIG = os.path.join(ROOT, "deploy", "configs", "inference_cls.yaml")


@pytest.mark.parametrize("item, expected", [
    ("Global.batch_size=0", "Global.batch_size must be an integer >= 1 (images per forward "
                            "pass), got 0"),
    ("Global.batch_size=two", "Global.batch_size must be an integer >= 1 (images per forward "
                              "pass), got 'two'"),
    ("Global.cpu_num_threads=0", "Global.cpu_num_threads must be an integer >= 1 (CPU threads "
                                 "of the backend), got 0"),
    ("Global.enable_mkldnn=maybe", "Global.enable_mkldnn must be true or false, got 'maybe'"),
    ("Global.use_gpu=2", "Global.use_gpu must be true or false, got 2"),
    ("PostProcess.Topk.topk=0", "PostProcess.Topk.topk must be an integer >= 1 (classes "
                                "reported per image), got 0"),
])
def test_deploy_config_values_are_one_line(item, expected):
    with pytest.raises(UserError) as exc:
        _predict_cls().load_config(DEPLOY_CONFIG, [item])
    assert str(exc.value) == f"-o {item}: {expected}"


def test_deploy_config_valid_forms_still_load():
    config = _predict_cls().load_config(DEPLOY_CONFIG, [
        "Global.use_gpu=0", "Global.enable_mkldnn=True", "Global.batch_size=1",
        "Global.cpu_num_threads=6", "PostProcess.Topk.topk=1"])
    g = config["Global"]
    assert g["use_gpu"] is False and g["enable_mkldnn"] is True and g["batch_size"] == 1
    # PaddleClas's own deploy config (the wheel's) loads unchanged
    import importlib.util

    wheel = os.path.join(importlib.util.find_spec("paddleclas").submodule_search_locations[0],
                         "deploy", "configs", "inference_cls.yaml")
    g = _predict_cls().load_config(wheel, ["Global.use_gpu=False"])["Global"]
    assert g["batch_size"] == 1 and g["use_gpu"] is False


@pytest.mark.parametrize("overrides, where", [
    (["Global.class_num=5"], "-o Global.class_num=5"),
    (["Arch.class_num=7", "Global.class_num=5"], "-o Global.class_num=5"),
])
def test_conflicting_global_and_arch_class_num_is_refused(overrides, where):
    """PaddleClas ignores a Global.class_num that differs from Arch.class_num; a user who
    wrote it meant it: one line instead of a model with the other count."""
    with pytest.raises(ConfigError) as exc:
        _load(overrides)
    assert str(exc.value).startswith(f"{where}: Global.class_num is 5 but Arch.class_num is ")
    # the same number, or Global alone standing in for Arch (PaddleClas's rule), still loads
    assert _load(["Global.class_num=10", "Arch.class_num=10"])["Arch"]["class_num"] == 10
