"""safetensors weights: conversion both ways, pretrained/resume/export/training, and broken
or ill-fitting files reported by tensor name."""
import json
import os
import struct
import sys

import numpy as np
import paddle
import pytest

from engine_helpers import QUICK_START, ROOT, load, make_splits, tiny_overrides
from ppcls_ext.arch import EConvNeXt_mini, EConvNeXt_tiny
from ppcls_ext.io import load_pretrained
from ppcls_ext.io import read_state_dict, write_state_dict
from ppcls_ext.io import load_checkpoint, load_ema, save_checkpoint
from ppcls_ext.engine.config import ConfigError
from ppcls_ext.export import load_export_weights

sys.path.insert(0, os.path.join(ROOT, "tools"))
import convert_weights  # noqa: E402


def _outputs(model, x):
    model.eval()
    with paddle.no_grad():
        return model(x).numpy()


def test_convert_both_ways_keeps_every_tensor(tmp_path, capsys):
    src = EConvNeXt_mini(class_num=4)
    pd = str(tmp_path / "a.pdparams")
    paddle.save(src.state_dict(), pd)
    st, back = str(tmp_path / "b.safetensors"), str(tmp_path / "c.pdparams")
    assert convert_weights.main(["--src", pd, "--dst", st]) == 0
    assert convert_weights.main(["--src", st, "--dst", back]) == 0
    assert "wrote" in capsys.readouterr().out
    with open(st, "rb") as f:  # a real safetensors file: JSON header, no pickle opcode
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    assert set(header) - {"__metadata__"} == set(src.state_dict())
    original, round_trip = paddle.load(pd), read_state_dict(back)
    for key, value in original.items():
        np.testing.assert_array_equal(round_trip[key].numpy(), value.numpy())
    x = paddle.randn([2, 3, 32, 32])
    for path in (st, str(tmp_path / "b")):  # suffix optional, as Global.pretrained_model
        dst = EConvNeXt_mini(class_num=4, pretrained=path)
        np.testing.assert_array_equal(_outputs(dst, x), _outputs(src, x))


def test_convert_refuses_unknown_suffixes_and_missing_sources(tmp_path, capsys):
    with pytest.raises(SystemExit):
        convert_weights.parse_args(["--src", "a.pdparams", "--dst", "b.pt"])
    assert "must end in .pdparams or .safetensors" in capsys.readouterr().err
    assert convert_weights.main(["--src", str(tmp_path / "no.pdparams"),
                                 "--dst", str(tmp_path / "b.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "b.safetensors").exists()


def _saved(tmp_path, name="w.safetensors", class_num=4):
    path = str(tmp_path / name)
    write_state_dict(EConvNeXt_mini(class_num=class_num).state_dict(), path)
    return path


def test_truncated_file_names_the_lost_tensors(tmp_path):
    path = _saved(tmp_path)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:len(data) - 1000])
    with pytest.raises(ValueError) as info:
        load_pretrained(EConvNeXt_mini(class_num=4), path)
    message = str(info.value)
    assert "\n" not in message and "w.safetensors" in message
    assert "past the end of the file (truncated): ['" in message


def test_tampered_header_and_bytes_name_the_tensors(tmp_path):
    path = _saved(tmp_path)
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    header["head.weight"]["shape"] = [7, 7]  # shape no longer matches its bytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    bad_header = str(tmp_path / "header.safetensors")
    with open(bad_header, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data[8 + length:])
    with pytest.raises(ValueError, match=r"header.safetensors.*head\.weight F32\[7, 7\]"):
        read_state_dict(bad_header)

    victim = sorted(k for k in header if k.startswith("stages.1.") and k.endswith("weight"))[0]
    start, _ = header[victim]["data_offsets"]
    flipped = bytearray(data)
    flipped[8 + length + start + 5] ^= 0x40  # one bit of one weight
    bad_bytes = str(tmp_path / "bytes.safetensors")
    open(bad_bytes, "wb").write(bytes(flipped))
    with pytest.raises(ValueError, match=rf"bytes.safetensors' was altered.*\['{victim}'\]"):
        read_state_dict(bad_bytes)


def test_tensors_that_do_not_fit_the_model_are_named(tmp_path):
    tiny = str(tmp_path / "tiny.safetensors")
    write_state_dict(EConvNeXt_tiny(class_num=4).state_dict(), tiny)
    with pytest.raises(ValueError, match=r"tiny.safetensors' does not fit this model .*in \d+ "
                                         r"tensors: \['norm\._mean: checkpoint \(1024,\) vs "
                                         r"model \(768,\)'"):
        load_pretrained(EConvNeXt_mini(class_num=4), tiny)
    other = str(tmp_path / "other.safetensors")
    write_state_dict({"fc.w": paddle.ones([2, 2])}, other)
    with pytest.raises(ValueError, match=r"shares no parameter name.*\['fc\.w'\]"):
        load_pretrained(EConvNeXt_mini(class_num=4), other)


def test_safetensors_file_with_a_pickle_suffix_gets_a_hint(tmp_path):
    path = _saved(tmp_path)
    os.rename(path, str(tmp_path / "w.pdparams"))
    with pytest.raises(ValueError, match="w.pdparams.*looks like a safetensors file"):
        read_state_dict(str(tmp_path / "w.pdparams"))


def test_half_precision_weights_load_and_integer_ones_are_refused(tmp_path):
    src = EConvNeXt_mini(class_num=4)
    half = str(tmp_path / "half.safetensors")
    write_state_dict({k: v.astype("bfloat16") if v.dtype == paddle.float32 else v
                      for k, v in src.state_dict().items()}, half)
    dst = EConvNeXt_mini(class_num=4)
    assert load_pretrained(dst, half)["cast"]
    assert dst.stem.conv1.conv.weight.dtype == paddle.float32
    np.testing.assert_allclose(dst.stem.conv1.conv.weight.numpy(),
                               src.stem.conv1.conv.weight.numpy(), rtol=1e-2, atol=1e-2)
    ints = str(tmp_path / "ints.safetensors")
    write_state_dict({k: v.astype("int32") for k, v in src.state_dict().items()}, ints)
    with pytest.raises(ValueError, match=r"ints.safetensors' does not fit.*checkpoint dtype "
                                         r"paddle.int32 vs model paddle.float32"):
        load_pretrained(EConvNeXt_mini(class_num=4), ints)


def test_only_tensors_go_into_safetensors(tmp_path):
    with pytest.raises(ValueError, match=r"only tensors can be stored, not \['LR_Scheduler"):
        write_state_dict({"m": paddle.ones([2]), "LR_Scheduler": {"last_epoch": 1}},
                         str(tmp_path / "opt.safetensors"))
    assert os.listdir(tmp_path) == []  # no half-written or temp file left


def _ema(model):
    from ppcls_ext._ppcls import ppcls_module

    return ppcls_module("utils.ema").ExponentialMovingAverage(model, decay=0.5)


def test_checkpoint_in_safetensors_resumes_and_exports_ema(tmp_path):
    model = EConvNeXt_mini(class_num=4)
    opt = paddle.optimizer.AdamW(parameters=model.parameters())
    ema = _ema(model)
    with paddle.no_grad():
        for p in ema.module.parameters():
            p.set_value(p * 0.5)
    save_checkpoint(str(tmp_path), "latest", model, opt, None, {"epoch": 1})  # pdparams first
    base = save_checkpoint(str(tmp_path), "latest", model, opt, ema, {"epoch": 3},
                           weights_format="safetensors")
    assert sorted(os.listdir(tmp_path)) == ["latest.ema.safetensors", "latest.pdopt",
                                            "latest.pdstates", "latest.safetensors"]
    fresh = EConvNeXt_mini(class_num=4)
    fresh_ema = _ema(fresh)
    states = load_checkpoint(base + ".safetensors", fresh,
                             paddle.optimizer.AdamW(parameters=fresh.parameters()))
    load_ema(base + ".safetensors", fresh_ema, fresh)
    assert states["epoch"] == 3
    x = paddle.randn([1, 3, 32, 32])
    np.testing.assert_array_equal(_outputs(fresh, x), _outputs(model, x))
    np.testing.assert_array_equal(_outputs(fresh_ema.module, x), _outputs(ema.module, x))
    exported = EConvNeXt_mini(class_num=4)
    assert load_export_weights(exported, base, use_ema=True).endswith("latest.ema.safetensors")
    np.testing.assert_array_equal(_outputs(exported, x), _outputs(ema.module, x))


@pytest.mark.integration  # trains
def test_training_saves_safetensors_and_eval_reads_them(tmp_path):
    from ppcls_ext.engine import Engine

    data = make_splits(str(tmp_path / "data"), 8, 4)
    out = str(tmp_path / "out")
    overrides = tiny_overrides(data, out, epochs=1, extra=["Global.save_format=safetensors",
                                                           "Global.eval_during_train=False"])
    Engine(load(QUICK_START, overrides), mode="train").train()
    model_dir = os.path.join(out, "EConvNeXt_mini")
    assert os.path.isfile(os.path.join(model_dir, "latest.safetensors"))
    assert not [f for f in os.listdir(model_dir) if f.endswith((".pdparams", ".pdema"))]
    engine = Engine(load(QUICK_START, tiny_overrides(data, out) + [
        f"Global.pretrained_model={model_dir}/latest"]), mode="eval")
    assert "top1" in engine.eval()
    with pytest.raises(ConfigError, match="Global.save_format must be one of pdparams, "
                                          "safetensors, got 'pt'"):
        load(QUICK_START, overrides + ["Global.save_format=pt"])


def test_authors_checkpoint_converts_straight_to_safetensors(tmp_path):
    from weights_helpers import authors_naming

    ref = EConvNeXt_mini(class_num=5)
    src = str(tmp_path / "authors.pdparams")
    paddle.save(authors_naming(ref.state_dict()), src)
    dst = str(tmp_path / "ours.safetensors")
    assert convert_weights.main(["--src", src, "--dst", dst, "--arch", "EConvNeXt_mini"]) == 0
    x = paddle.randn([1, 3, 32, 32])
    np.testing.assert_allclose(_outputs(EConvNeXt_mini(class_num=5, pretrained=dst), x),
                               _outputs(ref, x), atol=1e-5)


def test_resume_from_half_precision_weights_and_a_foreign_ema_file(tmp_path):
    model = EConvNeXt_mini(class_num=4)
    opt = paddle.optimizer.AdamW(parameters=model.parameters())
    base = save_checkpoint(str(tmp_path), "latest", model, opt, _ema(model), {"epoch": 2},
                           weights_format="safetensors")
    write_state_dict({k: v.astype("float16") if v.dtype == paddle.float32 else v
                      for k, v in model.state_dict().items()}, base + ".safetensors")
    fresh = EConvNeXt_mini(class_num=4)
    assert load_checkpoint(base, fresh)["epoch"] == 2
    np.testing.assert_allclose(fresh.head.weight.numpy(), model.head.weight.numpy(), atol=1e-3)
    write_state_dict(EConvNeXt_mini(class_num=7).state_dict(), base + ".ema.safetensors")
    with pytest.raises(ValueError, match=r"latest.ema.safetensors' does not fit the model .*"
                                         r"head\.weight"):
        load_ema(base, _ema(fresh), fresh)


def test_missing_safetensors_package_is_one_clear_line(tmp_path, monkeypatch, capsys):
    path = _saved(tmp_path)
    monkeypatch.setitem(sys.modules, "safetensors", None)  # as if not installed
    assert convert_weights.main(["--src", path, "--dst", str(tmp_path / "w.pdparams")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install safetensors==0.8.0" in err


def test_pretrained_url_to_safetensors(tmp_path, monkeypatch):
    from paddleclas.ppcls.utils import download

    src = EConvNeXt_mini(class_num=3)
    cached = str(tmp_path / "remote.safetensors")
    write_state_dict(src.state_dict(), cached)
    monkeypatch.setattr(download, "get_weights_path_from_url", lambda url, md5sum=None: cached)
    dst = EConvNeXt_mini(class_num=3, pretrained="https://example.org/mini.safetensors")
    x = paddle.randn([1, 3, 32, 32])
    np.testing.assert_array_equal(_outputs(dst, x), _outputs(src, x))


def test_engine_resume_reads_a_safetensors_ema_and_checks_it_fits(tmp_path):
    """The engine builds its EMA after the weights are loaded (checkpoint.load_ema): that path
    must read ``.ema.safetensors`` like ``.pdema``, and refuse an EMA of another model."""
    from ppcls_ext.io import load_ema

    model = EConvNeXt_mini(class_num=4)
    ema = _ema(model)
    for p in ema.module.parameters():  # an EMA that differs from the model
        p.set_value(p * 0.5)
    base = save_checkpoint(str(tmp_path), "latest", model, None, ema, {"epoch": 1},
                           weights_format="safetensors")
    fresh = EConvNeXt_mini(class_num=4)
    fresh_ema = _ema(fresh)
    load_ema(base, fresh_ema, fresh)
    np.testing.assert_allclose(fresh_ema.module.head.weight.numpy(),
                               ema.module.head.weight.numpy(), atol=1e-6)
    write_state_dict(EConvNeXt_mini(class_num=7).state_dict(), base + ".ema.safetensors")
    with pytest.raises(ValueError, match=r"latest.ema.safetensors' does not fit the model"):
        load_ema(base, _ema(fresh), fresh)
