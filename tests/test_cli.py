"""The shared command-line harness (ppcls_infer/cli.py): -o parsing, overrides, error policy."""
import os
import subprocess
import sys

import pytest

from ppcls_infer.cli import (OverrideError, UserError, apply_overrides, make_parser,
                             parse_value, run)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK_START = os.path.join(ROOT, "configs", "quick_start", "EConvNeXt_mini_digits.yaml")


def test_repeated_and_paddledetection_forms_give_the_same_items():
    repeated = make_parser().parse_args(["-c", "x.yml", "-o", "a=1", "-o", "b.c=2",
                                         "--override", "d=x"])
    grouped = make_parser().parse_args(["-c", "x.yml", "-o", "a=1", "b.c=2", "--opt", "d=x"])
    assert repeated.override == grouped.override == ["a=1", "b.c=2", "d=x"]
    assert make_parser().parse_args(["-c", "x.yml"]).override == []


@pytest.mark.parametrize("text,value", [
    ("10", 10), ("0.1", 0.1), ("1e-3", 1e-3), ("false", False), ("True", True),
    ("null", None), ("None", None), ("~", None), ("[224, 224]", [224, 224]),
    ("(3, 4)", (3, 4)), ("{a: 1}", {"a": 1}), ("gpu", "gpu"), ("", ""),
    ("output/EConvNeXt_mini/best_model", "output/EConvNeXt_mini/best_model"),
    ("__import__('os').system('true')", "__import__('os').system('true')"),
    ("!!python/object/apply:os.system ['true']", "!!python/object/apply:os.system ['true']"),
])
def test_values_are_literals(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_dotted_keys_list_indices_and_new_leaves():
    config = {"Global": {"epochs": 3},
              "PreProcess": {"transform_ops": [{"ResizeImage": {"resize_short": 224}},
                                               {"CropImage": {"size": 224}}]}}
    apply_overrides(config, ["Global.epochs=10", "Global.save_format=safetensors",
                             "PreProcess.transform_ops.0.ResizeImage.resize_short=256",
                             "PreProcess.transform_ops.-1.CropImage.size=[200, 200]"])
    assert config["Global"] == {"epochs": 10, "save_format": "safetensors"}
    ops = config["PreProcess"]["transform_ops"]
    assert ops[0]["ResizeImage"]["resize_short"] == 256 and ops[1]["CropImage"]["size"] == [200,
                                                                                           200]


def test_attribute_of_a_tagged_object_is_set_in_place():
    class Dataset:
        def __init__(self):
            self.dataset_dir = "a"

    dataset = Dataset()
    config = {"TrainDataset": dataset}
    apply_overrides(config, ["TrainDataset.dataset_dir=b"])
    assert config["TrainDataset"] is dataset and dataset.dataset_dir == "b"


@pytest.mark.parametrize("item,message", [
    ("Globl.epochs=3", "the top level has no key 'Globl'; did you mean Global?"),
    ("Global.sub.key=1", "Global has no key 'sub'"),
    ("PreProcess.transform_ops.5.x=1", "index 5 is out of range for "
                                       "PreProcess.transform_ops (1 items)"),
    ("PreProcess.transform_ops.first.x=1", "is a list; 'first' is not an index"),
    ("Global.epochs", "is not KEY=VALUE"), ("=3", "is not KEY=VALUE"),
    ("Global..epochs=3", "is not KEY=VALUE"),
])
def test_unknown_or_malformed_keys_are_one_line(item, message):
    config = {"Global": {"epochs": 3}, "PreProcess": {"transform_ops": [{"x": 1}]}}
    with pytest.raises(OverrideError) as err:
        apply_overrides(config, [item])
    assert message in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, UserError) and isinstance(err.value, ValueError)


def test_new_top_level_key_refused_when_the_tool_says_so():
    with pytest.raises(OverrideError, match="the top level has no key 'epochz'; did you mean "
                                            "epoch"):
        apply_overrides({"epoch": 1}, ["epochz=2"], new_key=lambda path: len(path) > 1)


def test_payload_in_a_value_never_runs(tmp_path):
    from ppcls_ext.engine.config import ConfigError, load_config

    marker = tmp_path / "PWNED"
    payloads = [f"Global.epochs=__import__('os').system('touch {marker}')",
                f"Global.epochs=!!python/object/apply:os.system ['touch {marker}']",
                f"Global.seed=exec(\"open('{marker}', 'w')\")"]
    for payload in payloads:
        try:
            config = load_config(QUICK_START, [payload])
        except ConfigError:
            pass
        else:  # kept as the literal text
            key = payload.split("=", 1)[0].split(".")[1]
            assert isinstance(config["Global"][key], str)
        assert not marker.exists(), payload


def test_classification_config_overrides_and_unknown_key():
    from ppcls_ext.engine.config import ConfigError, load_config

    config = load_config(QUICK_START, ["Global.epochs=2", "Global.device=cpu",
                                       "DataLoader.Train.sampler.batch_size=4"])
    assert config.Global.epochs == 2 and config.DataLoader.Train.sampler.batch_size == 4
    with pytest.raises(ConfigError, match="epochz"):
        load_config(QUICK_START, ["Global.epochz=2"])
    with pytest.raises(OverrideError, match="has no key 'Trian'; did you mean Train"):
        load_config(QUICK_START, ["DataLoader.Trian.sampler.batch_size=4"])


def test_error_policy(capsys, monkeypatch):
    def user_mistake():
        raise UserError("the config names\na missing file")

    monkeypatch.delenv("PPCLS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        run(user_mistake)
    err = capsys.readouterr().err.splitlines()
    assert exc.value.code == 2 and err == [
        "error: the config names a missing file (PPCLS_DEBUG=1 shows the traceback)"]
    for bug in (KeyError("k"), TypeError("t"), ImportError("i"), AttributeError("a")):
        def buggy(bug=bug):
            raise bug
        with pytest.raises(type(bug)):  # a programming error keeps its traceback
            run(buggy)
    monkeypatch.setenv("PPCLS_DEBUG", "1")
    with pytest.raises(UserError):
        run(user_mistake)
    assert run(lambda x: x + 1, 1) == 2


TOOLS = [["tools/train.py"], ["tools/export_model.py"], ["tools/quant_post.py"],
         ["tools/det/eval.py"], ["deploy/python/predict_cls.py"]]


@pytest.mark.integration
@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t[0])
def test_every_tool_follows_the_error_policy(tool, tmp_path):
    """A missing config is one ``error:`` line in every tool; PPCLS_DEBUG=1 shows the
    traceback instead."""
    cmd = [sys.executable, os.path.join(ROOT, tool[0]), "-c", str(tmp_path / "missing.yml")]
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("PPCLS_DEBUG", None)
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert quiet.returncode == 2 and lines[-1].startswith("error: ") and \
        "missing.yml" in lines[-1] and "Traceback" not in quiet.stderr, quiet.stderr[-2000:]
    loud = subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          env=dict(env, PPCLS_DEBUG="1"))
    assert loud.returncode != 0 and "Traceback (most recent call last)" in loud.stderr


@pytest.mark.integration
@pytest.mark.parametrize("form", ["repeated", "paddledetection"])
def test_det_tools_apply_every_override(tmp_path, form):
    """``tools/det/train.py -c CFG -o use_gpu=false -o epoch=1 -o TrainReader.batch_size=4
    -o save_dir=X -o TrainDataset.dataset_dir=D`` applies all five (PaddleDetection's
    ArgsParser kept only the last repeated -o)."""
    pytest.importorskip("ppdet")
    from det_helpers import make_tiny_coco, tiny_config
    from ppcls_ext.det import commands

    data = make_tiny_coco(str(tmp_path / "data"), n_train=2, n_val=1)
    cfg = tiny_config(tmp_path, data, epochs=7)
    with open(cfg) as f:
        text = f.read()
    assert "  batch_size: 4\n" in text
    with open(cfg, "w") as f:  # TrainReader's (the first) batch size 4 -> 8 in the file
        f.write(text.replace("  batch_size: 4\n", "  batch_size: 8\n", 1))
    items = ["use_gpu=false", "epoch=1", "TrainReader.batch_size=4",
             f"save_dir={tmp_path}/X", f"TrainDataset.dataset_dir={tmp_path}/D"]
    argv = ["-c", cfg] + ([a for item in items for a in ("-o", item)] if form == "repeated"
                          else ["-o", *items])
    c = commands.load(commands.train_parser().parse_args(argv))
    dataset = c.TrainDataset
    dataset_dir = dataset["dataset_dir"] if isinstance(dataset, dict) else dataset.dataset_dir
    assert (c.use_gpu, c.epoch, c.TrainReader["batch_size"], c.save_dir, dataset_dir) == \
        (False, 1, 4, f"{tmp_path}/X", f"{tmp_path}/D")
    with pytest.raises(OverrideError, match="no key 'TrainReaderr'; did you mean TrainReader"):
        commands.load(commands.train_parser().parse_args(
            ["-c", cfg, "-o", "TrainReaderr.batch_size=4"]))
    with pytest.raises(OverrideError, match="no key 'epochz'"):
        commands.load(commands.train_parser().parse_args(["-c", cfg, "-o", "epochz=4"]))


def test_a_known_missing_section_is_created_a_misspelt_one_refused():
    config = {"Global": {"epochs": 1}}
    known = {"AMP", "Slim"}
    apply_overrides(config, ["AMP.use_amp=true", "Slim.quant.name=pact"],
                    new_section=lambda path: len(path) == 1 and path[0] in known)
    assert config["AMP"] == {"use_amp": True} and config["Slim"] == {"quant": {"name": "pact"}}
    with pytest.raises(OverrideError, match="the top level has no key 'AMQ'"):
        apply_overrides(config, ["AMQ.use_amp=true"],
                        new_section=lambda path: len(path) == 1 and path[0] in known)


@pytest.mark.parametrize("module", ["ppcls_ext.commands", "ppcls_ext.det.commands"])
def test_console_scripts_exit_zero_after_a_command_that_returns_a_result(module, monkeypatch):
    """setuptools' script wrapper does ``sys.exit(main())``: a command returning its metrics
    dict or Trainer made ``ppcls-infer``/``ppcls-eval``/``ppcls-det-infer`` exit 1 after a
    successful run. Every script named in pyproject.toml must return 0 instead."""
    import importlib
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    commands = importlib.import_module(module)
    targets = {target.split(":")[1] for target in scripts.values()
               if target.split(":")[0] == module}
    assert targets, f"no console script points at {module}"
    for target in sorted(targets):
        command = target[:-len("_script")]
        monkeypatch.setattr(commands, command, lambda: {"top1": 0.5})
        assert getattr(commands, target)() == 0
