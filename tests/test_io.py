"""ppcls_ext.io: one resolution rule for weights paths, and every file read exactly once."""
import os
import time

import numpy as np
import paddle
import pytest

from ppcls_ext.arch import EConvNeXt_mini
from ppcls_ext.io import (find_weights, load_pretrained, read_weights, resolve_weights_path,
                          strip_suffix, write_state_dict)
from ppcls_ext.io import state_dict as state_dict_module


@pytest.fixture
def reads(monkeypatch):
    """Count the files opened by the project's one reader, per format."""
    counts = {"pickle": [], "safetensors": []}
    read_pickle, load_safetensors = state_dict_module.read_pickle, \
        state_dict_module.load_safetensors

    def counted_pickle(path):
        counts["pickle"].append(os.path.basename(path))
        return read_pickle(path)

    def counted_safetensors(path):
        counts["safetensors"].append(os.path.basename(path))
        return load_safetensors(path)

    monkeypatch.setattr(state_dict_module, "read_pickle", counted_pickle)
    monkeypatch.setattr(state_dict_module, "load_safetensors", counted_safetensors)
    return counts


def _touch(path, age=0.0):
    with open(path, "wb") as f:
        f.write(b"x")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_strip_suffix_knows_every_checkpoint_part():
    for suffix in (".pdparams", ".pdopt", ".pdema", ".pdstates", ".safetensors",
                   ".ema.safetensors"):
        assert strip_suffix("out/latest" + suffix) == "out/latest"
    assert strip_suffix("out/latest") == "out/latest"
    assert strip_suffix("out/model.v1") == "out/model.v1"


def test_resolve_prefix_suffix_ema_and_missing(tmp_path):
    base = str(tmp_path / "best")
    with pytest.raises(FileNotFoundError, match=r"best.pdparams' or .*best.safetensors'"):
        resolve_weights_path(base)
    _touch(base + ".safetensors")
    assert resolve_weights_path(base) == base + ".safetensors"
    _touch(base + ".pdparams", age=60)  # older: the newer .safetensors still wins
    assert resolve_weights_path(base) == base + ".safetensors"
    assert resolve_weights_path(base + ".pdparams") == base + ".pdparams"  # explicit suffix
    with pytest.raises(FileNotFoundError, match="use_ema_weights=True but .*has no EMA"):
        resolve_weights_path(base, use_ema=True)  # no EMA yet
    _touch(base + ".ema.safetensors")
    assert resolve_weights_path(base + ".pdparams", use_ema=True) == base + ".ema.safetensors"
    assert resolve_weights_path(base) == base + ".safetensors"  # a prefix: the model weights
    assert find_weights(base, ema=True) == base + ".ema.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.pdema"):
        resolve_weights_path(str(tmp_path / "nope.pdema"))


@pytest.mark.parametrize("suffix", [".pdparams", ".safetensors"])
def test_load_pretrained_reads_the_file_once(tmp_path, reads, suffix):
    src = EConvNeXt_mini(class_num=3)
    path = write_state_dict(src.state_dict(), str(tmp_path / f"w{suffix}"))
    dst = EConvNeXt_mini(class_num=3)
    assert load_pretrained(dst, str(tmp_path / "w"))["path"] == path
    assert reads["pickle"] + reads["safetensors"] == [os.path.basename(path)]
    np.testing.assert_array_equal(dst.head.weight.numpy(), src.head.weight.numpy())


def test_load_pretrained_takes_an_already_read_state(tmp_path, reads):
    src = EConvNeXt_mini(class_num=3)
    write_state_dict(src.state_dict(), str(tmp_path / "w.pdparams"))
    state, path = read_weights(str(tmp_path / "w"))
    dst = EConvNeXt_mini(class_num=3)
    assert load_pretrained(dst, (state, path))["path"] == path
    assert reads["pickle"] == ["w.pdparams"]  # the read above only
    np.testing.assert_array_equal(dst.head.weight.numpy(), src.head.weight.numpy())


def test_qat_reads_a_float_checkpoint_once(tmp_path, reads):
    """prepare_qat looks at the checkpoint (float or QAT?) and loads it: one read, not two."""
    pytest.importorskip("paddleslim")
    from ppcls_ext.slim.qat import prepare_qat

    src = EConvNeXt_mini(class_num=3)
    write_state_dict(src.state_dict(), str(tmp_path / "float.pdparams"))
    config = {"Slim": {"quant": {"name": "pact"}},
              "Global": {"pretrained_model": str(tmp_path / "float")}}
    model = EConvNeXt_mini(class_num=3)
    assert prepare_qat(config, model, "train") is not None
    assert reads["pickle"] == ["float.pdparams"]
    weights = {k.replace("._layer.", "."): v for k, v in model.state_dict().items()}
    np.testing.assert_array_equal(weights["stages.1.blocks.0.pwconv1.weight"].numpy(),
                                  src.state_dict()["stages.1.blocks.0.pwconv1.weight"].numpy())


def test_export_qat_reads_the_qat_checkpoint_once(tmp_path, reads, monkeypatch):
    """export_qat checks that the checkpoint is a QAT one and hands the same state on."""
    pytest.importorskip("paddleslim")
    from ppcls_ext.slim import export as slim_export
    from ppcls_ext.slim.qat import prepare_qat

    qat = EConvNeXt_mini(class_num=3)
    config = {"Slim": {"quant": {"name": "pact"}}, "Global": {}, "Arch": {"name": "EConvNeXt_mini",
                                                                      "class_num": 3}}
    prepare_qat(config, qat, "train")
    write_state_dict(qat.state_dict(), str(tmp_path / "qat.pdparams"))
    config["Global"]["pretrained_model"] = str(tmp_path / "qat")
    monkeypatch.setattr(slim_export, "build_model", lambda cfg, mode: EConvNeXt_mini(class_num=3))
    seen = {}
    monkeypatch.setattr(slim_export, "export_int8",
                        lambda cfg, model, quantized, method, act_dtype: seen.update(
                            model=model, quantized=quantized, method=method))
    slim_export.export_qat(config)
    assert reads["pickle"] == ["qat.pdparams"]
    assert seen["method"] == "qat" and len(seen["quantized"]) > 0


def test_resume_restores_the_lr_schedule_from_the_optimizer_state(tmp_path):
    """The LR scheduler's state travels in ``.pdopt`` (Paddle's optimizer state_dict holds it
    under LR_Scheduler, as PaddleClas relies on), so ``.pdstates`` no longer carries a copy."""
    from ppcls_ext.io import load_checkpoint, save_checkpoint

    model = EConvNeXt_mini(class_num=3)
    sched = paddle.optimizer.lr.CosineAnnealingDecay(0.1, T_max=10)
    opt = paddle.optimizer.AdamW(learning_rate=sched, parameters=model.parameters())
    for _ in range(3):
        sched.step()
    base = save_checkpoint(str(tmp_path), "latest", model, opt, None, {"epoch": 1})
    fresh_sched = paddle.optimizer.lr.CosineAnnealingDecay(0.1, T_max=10)
    fresh_opt = paddle.optimizer.AdamW(learning_rate=fresh_sched,
                                       parameters=EConvNeXt_mini(class_num=3).parameters())
    states = load_checkpoint(base, EConvNeXt_mini(class_num=3), fresh_opt)
    assert fresh_sched.last_epoch == 3 and fresh_opt.get_lr() == pytest.approx(sched())
    assert states == {"epoch": 1}
