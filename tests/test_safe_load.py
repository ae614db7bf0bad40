"""Checkpoints cannot run code: booby-trapped pickles on every load path, and the allow-list
still reads everything paddle.save writes."""
import datetime
import os
import pickle
import subprocess
import sys

import numpy as np
import paddle
import pytest

from engine_helpers import QUICK_START, ROOT, make_splits, tiny_overrides
from ppcls_ext.arch import EConvNeXt_mini
from ppcls_ext.io import load_pretrained
from ppcls_ext.io import read_state_dict
from ppcls_ext.io import load_checkpoint, load_ema, save_checkpoint
from ppcls_ext.engine.optimizer import build_optimizer
from ppcls_ext.export import load_export_weights
from ppcls_ext.io import UnsafeCheckpointError, read_pickle
from weights_helpers import write_trap

SUFFIXES = (".pdparams", ".pdopt", ".pdema", ".pdstates", ".safetensors")


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "the booby-trapped pickle ran its payload"


def test_the_trap_really_fires_under_plain_pickle(tmp_path):
    """Guard against a test that passes because the payload is broken."""
    marker = tmp_path / "fired"
    path = write_trap(tmp_path / "evil.pdparams", marker)
    with open(path, "rb") as f:
        pickle.load(f)
    assert marker.exists()


@pytest.mark.parametrize("via,refused", [("system", "posix.system"), ("eval", "builtins.eval"),
                                         ("popen", "subprocess.Popen")])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_read_state_dict_refuses_with_file_and_global(tmp_path, marker, suffix, via, refused):
    path = write_trap(tmp_path / f"evil{suffix}", marker, via)
    error = UnsafeCheckpointError if suffix != ".safetensors" else ValueError
    with pytest.raises(error) as info:
        read_state_dict(path)
    message = str(info.value)
    assert "\n" not in message and path in message
    if suffix != ".safetensors":  # a pickle named .safetensors fails safetensors' header check
        assert refused in message and "PPCLS_TRUST_PICKLE=1" in message


def test_pretrained_and_arch_factory_refuse(tmp_path, marker):
    model = EConvNeXt_mini(class_num=3)
    for name in ("evil.pdparams", "evil.safetensors", "evil.pdema"):
        path = write_trap(tmp_path / name, marker)
        with pytest.raises(ValueError, match=name):
            load_pretrained(model, path)
    write_trap(tmp_path / "prefix.pdparams", marker)  # suffix omitted, as in Global.*
    with pytest.raises(UnsafeCheckpointError, match="prefix.pdparams"):
        EConvNeXt_mini(class_num=3, pretrained=str(tmp_path / "prefix"))


def _small_checkpoint(tmp_path, with_ema=True):
    model = paddle.nn.Linear(3, 2)
    opt, sched = build_optimizer({"name": "AdamW", "lr": {"name": "Cosine",
                                                          "learning_rate": 0.1}}, 1, 2, model)
    model(paddle.ones([1, 3])).sum().backward()
    opt.step()
    ema = None
    if with_ema:
        from ppcls_ext._ppcls import ppcls_module

        ema = ppcls_module("utils.ema").ExponentialMovingAverage(model, decay=0.9)
    base = save_checkpoint(str(tmp_path), "latest", model, opt, ema,
                           {"epoch": 1, "lr_scheduler": sched.state_dict()})
    return base, model, opt, ema


@pytest.mark.parametrize("suffix", [".pdparams", ".pdopt", ".pdema", ".pdstates"])
def test_resume_refuses_any_trapped_part(tmp_path, marker, suffix):
    base, model, opt, ema = _small_checkpoint(tmp_path)
    write_trap(base + suffix, marker, state=paddle.load(base + suffix, return_numpy=True))
    with pytest.raises(UnsafeCheckpointError, match=f"latest{suffix}.*posix.system"):
        load_checkpoint(base, model, opt)  # what the engine runs on resume: these two
        load_ema(base, ema, model)


def test_export_refuses_trapped_ema_and_weights(tmp_path, marker):
    model = EConvNeXt_mini(class_num=3)
    prefix = str(tmp_path / "ckpt")
    paddle.save(model.state_dict(), prefix + ".pdparams")
    write_trap(prefix + ".pdema", marker)
    with pytest.raises(UnsafeCheckpointError, match="ckpt.pdema"):
        load_export_weights(model, prefix, use_ema=True)
    os.remove(prefix + ".pdema")
    write_trap(prefix + ".pdparams", marker)
    with pytest.raises(UnsafeCheckpointError, match="ckpt.pdparams"):
        load_export_weights(model, prefix + ".pdparams")


def _tool(name, *args):
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", f"{name}.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={k: v for k, v in os.environ.items()
                                 if k not in ("PPCLS_TRUST_PICKLE", "PPCLS_DEBUG")})


def _config_args(overrides):
    args = ["-c", QUICK_START]
    for o in overrides:
        args += ["-o", o]
    return args


@pytest.fixture
def tiny_data(tmp_path):
    data = make_splits(str(tmp_path / "data"), 4, 4)
    return data


def _one_error_line(tool, returncode, stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert returncode == 2, (tool, stderr[-2000:])
    assert len(lines) == 1 and "posix.system" in lines[0], (tool, stderr[-2000:])
    assert "Traceback" not in stderr, tool
    return lines[0]


@pytest.mark.integration  # runs the tools as processes
def test_command_line_tools_never_run_the_payload(tmp_path, marker, tiny_data):
    """The reported exploit (tools/eval.py with Global.pretrained_model) and the converter,
    as processes, run side by side: one 'error:' line naming file and refused global."""
    evil = write_trap(tmp_path / "evil.pdparams", marker)
    common = tiny_overrides(tiny_data, str(tmp_path / "out"), epochs=2)
    procs = {
        "eval": _tool("eval", *_config_args(common + [f"Global.pretrained_model={evil}"])),
        "convert_weights": _tool("convert_weights", "--src", evil,
                                 "--dst", str(tmp_path / "out.safetensors")),
    }
    for tool, proc in procs.items():
        _, stderr = proc.communicate(timeout=600)
        assert "evil.pdparams" in _one_error_line(tool, proc.returncode, stderr)
    assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.integration  # runs the export tool
def test_engine_resume_and_export_tool_refuse(tmp_path, marker, tiny_data, monkeypatch, capsys):
    """Training resume and evaluation through the Engine, and tools/export_model.py's main."""
    from engine_helpers import load
    from ppcls_ext.engine import Engine

    base = str(_small_checkpoint(tmp_path / "ck", with_ema=False)[0])
    write_trap(base + ".pdparams", marker)  # the first file a resume reads
    evil = write_trap(tmp_path / "evil.pdparams", marker)
    common = tiny_overrides(tiny_data, str(tmp_path / "out"), epochs=2)
    with pytest.raises(UnsafeCheckpointError, match="latest.pdparams.*posix.system"):
        Engine(load(QUICK_START, common + [f"Global.checkpoints={base}"]), mode="train")
    with pytest.raises(UnsafeCheckpointError, match="evil.pdparams.*posix.system"):
        Engine(load(QUICK_START, common + [f"Global.pretrained_model={evil}"]), mode="eval")

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import export_model

    monkeypatch.setattr(sys, "argv", ["export_model.py", *_config_args(
        common + [f"Global.pretrained_model={evil[:-len('.pdparams')]}",
                  f"Global.save_inference_dir={tmp_path}/inf"])])
    with pytest.raises(SystemExit) as info:
        export_model.main()
    assert "evil.pdparams" in _one_error_line("export_model", info.value.code,
                                              capsys.readouterr().err)
    assert not (tmp_path / "inf").exists()


def test_allow_list_reads_everything_paddle_save_writes(tmp_path):
    base, model, opt, ema = _small_checkpoint(tmp_path)
    for suffix in (".pdparams", ".pdopt", ".pdema", ".pdstates"):
        ours, theirs = read_pickle(base + suffix), paddle.load(base + suffix)
        assert ours.keys() == theirs.keys()
    assert read_pickle(base + ".pdopt")["LR_Scheduler"] == opt.state_dict()["LR_Scheduler"]
    # the other shapes Paddle emits: protocol 2, nested tensors (master_weights), numpy
    # scalars and tensors inside a non-state-dict object, OrderedDict
    import collections

    odd = {"m": paddle.ones([2]), "master_weights": {"w": paddle.ones([3])},
           "LR_Scheduler": collections.OrderedDict(last_epoch=2, last_lr=0.1),
           "best": np.float32(0.5), "arr": np.arange(3)}
    for protocol in (2, 4):
        path = str(tmp_path / f"odd{protocol}.pdopt")
        paddle.save(odd, path, protocol=protocol)
        got = read_pickle(path)
        np.testing.assert_array_equal(got["master_weights"]["w"].numpy(), np.ones([3]))
        assert got["best"] == 0.5 and got["LR_Scheduler"]["last_epoch"] == 2
    # PaddleClas's engine saves .pdopt as a list of optimizer state dicts (tensors -> tuples)
    paddle.save([opt.state_dict()], str(tmp_path / "paddleclas.pdopt"))
    listed = read_pickle(str(tmp_path / "paddleclas.pdopt"))
    assert isinstance(listed, list) and listed[0].keys() == opt.state_dict().keys()
    fresh = paddle.nn.Linear(3, 2)
    load_checkpoint(base, fresh)
    np.testing.assert_array_equal(fresh.weight.numpy(), model.weight.numpy())


def test_trust_switch_and_corrupt_files(tmp_path, monkeypatch, ppcls_warnings):
    path = str(tmp_path / "mine.pdstates")
    with open(path, "wb") as f:  # a harmless global the allow-list does not know
        pickle.dump({"when": datetime.date(2026, 1, 1)}, f)
    with pytest.raises(UnsafeCheckpointError, match="datetime.date"):
        read_state_dict(path)
    monkeypatch.setenv("PPCLS_TRUST_PICKLE", "1")
    assert read_state_dict(path)["when"] == datetime.date(2026, 1, 1)
    assert any("PPCLS_TRUST_PICKLE=1: loading" in m and "mine.pdstates" in m
               for m in ppcls_warnings)
    monkeypatch.delenv("PPCLS_TRUST_PICKLE")
    good = str(tmp_path / "w.pdparams")
    paddle.save(paddle.nn.Linear(3, 2).state_dict(), good)
    data = open(good, "rb").read()
    for name, content in (("trunc.pdparams", data[:len(data) // 2]),
                          ("text.pdparams", b"not a pickle at all")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"{name}.*corrupt, truncated"):
            read_state_dict(str(tmp_path / name))


def test_paddleclas_engine_loads_are_guarded_too(tmp_path, marker, monkeypatch):
    """Under PADDLECLAS_ROOT, ppcls_ext.commands hands the config to PaddleClas's engine, whose
    save_load calls paddle.load itself: guard_paddle_load routes those calls through the
    allow-list (shown here on the wheel's copy of the same function)."""
    from paddleclas.ppcls.utils.save_load import load_dygraph_pretrain
    from ppcls_ext.io import guard_paddle_load

    monkeypatch.setattr(paddle, "load", paddle.load)  # undone after the test
    guard_paddle_load()
    guard_paddle_load()  # idempotent
    write_trap(tmp_path / "evil.pdparams", marker)
    with pytest.raises(UnsafeCheckpointError, match="evil.pdparams.*posix.system"):
        load_dygraph_pretrain(paddle.nn.Linear(2, 2), str(tmp_path / "evil"))
    good, fresh = paddle.nn.Linear(2, 2), paddle.nn.Linear(2, 2)
    paddle.save(good.state_dict(), str(tmp_path / "good.pdparams"))
    load_dygraph_pretrain(fresh, str(tmp_path / "good"))
    np.testing.assert_array_equal(fresh.weight.numpy(), good.weight.numpy())


def test_resume_journal_cannot_rename_outside_the_checkpoint(tmp_path):
    """A checkpoint folder from someone else may carry a save journal ({prefix}.commit, used
    to finish a save killed between its renames): it must not move files outside the
    checkpoint's own names (overwriting e.g. ~/.bashrc would be code execution too)."""
    import json

    base, model, _, _ = _small_checkpoint(tmp_path / "ck", with_ema=False)
    (tmp_path / "ck" / "latest.pdparams.tmp999").write_text("attacker's content")
    (tmp_path / "outside.txt").write_text("a file of the user")
    journal = [["latest.pdparams.tmp999", "../victim.txt"], ["../outside.txt", "latest.x"]]
    (tmp_path / "ck" / "latest.commit").write_text(json.dumps(journal))
    try:
        load_checkpoint(base, model)
    except ValueError as exc:  # refusing the journal is fine too, with one line
        assert "\n" not in str(exc)
    assert not (tmp_path / "victim.txt").exists()
    assert (tmp_path / "outside.txt").read_text() == "a file of the user"
    assert not (tmp_path / "ck" / "latest.x").exists()
