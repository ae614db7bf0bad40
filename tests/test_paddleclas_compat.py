"""PaddleClas's engine keys and conventions kept by this engine: Global.print_mem_info,
Global.log_ranks, best_model from the first evaluation on, the log in
{output_dir}/{Arch.name}/, and the key table (every PaddleClas key honoured or refused)."""
import os
import re

import paddle
import pytest

from engine_helpers import QUICK_START, ROOT, load, tiny_overrides
from ppcls_ext.engine import Engine, loops, paddleclas_keys
from ppcls_ext.engine.recorder import memory_message, parse_log_ranks


def test_memory_message_cpu_reports_peak_rss():
    msg = memory_message("cpu")
    value = float(re.fullmatch(r", max_mem_rss: ([0-9]+\.[0-9]{2}) MB", msg).group(1))
    assert 10 < value < 64 * 1024  # a Python process with Paddle loaded, in MiB


def test_memory_message_gpu_uses_cuda_allocator_peaks_as_paddleclas(monkeypatch):
    monkeypatch.setattr(paddle.device, "is_compiled_with_cuda", lambda: True)
    monkeypatch.setattr(paddle.device.cuda, "max_memory_reserved", lambda: 3 * 1024 ** 2)
    monkeypatch.setattr(paddle.device.cuda, "max_memory_allocated", lambda: 1536 * 1024)
    assert memory_message("gpu") == ", max_mem_reserved: 3.00 MB, max_mem_allocated: 1.50 MB"
    # a CUDA build running on CPU has no CUDA peaks to show: the host figure instead
    assert memory_message("cpu").startswith(", max_mem_rss: ")


@pytest.mark.parametrize("value, ranks", [("0", [0]), ("0,1", [0, 1]), (0, [0]), (3, [3]),
                                          ((0, 1, 2), [0, 1, 2]), ([1], [1]), (" 0, 2", [0, 2])])
def test_log_ranks_forms(value, ranks):
    assert parse_log_ranks(value) == ranks


@pytest.mark.parametrize("value", ["a", "0,x", "", -1, True, None, [], 1.5j])
def test_log_ranks_invalid_named(value):
    with pytest.raises(ValueError, match="Global.log_ranks must be"):
        parse_log_ranks(value)


def _engine(data, out, *extra, epochs=1, mode="train"):
    config = load(QUICK_START, tiny_overrides(data, out, epochs=epochs,
                                              extra=["Global.seed=3", *extra]))
    return Engine(config, mode)


def test_best_model_written_at_first_eval_even_at_top1_zero(data, tmp_path, monkeypatch):
    """PaddleClas starts the best metric at -1: a run whose top-1 stays 0 still has a
    best_model (before, 0 > 0 never held and no best_model was ever written)."""
    engine = _engine(data, str(tmp_path), epochs=2)
    calls = []

    def zero_top1(engine_, epoch=0, model=None, tag=""):
        calls.append(epoch)
        return {"loss": 1.0, "top1": 0.0, "top5": 0.0}
    monkeypatch.setattr(loops, "evaluate", zero_top1)
    monkeypatch.setattr(loops, "train_epoch", lambda engine_, epoch: {"loss": 1.0})
    states = engine.train()
    best = os.path.join(str(tmp_path), "EConvNeXt_mini", "best_model")
    assert os.path.isfile(best + ".pdparams") and os.path.isfile(best + ".pdstates")
    assert states["best_metric"] == 0.0 and states["best_epoch"] == 1  # not replaced by a tie
    assert calls == [1, 2]


def test_print_mem_info_and_log_ranks_in_the_train_log(data, tmp_path):
    engine = _engine(data, str(tmp_path))
    engine.config["Global"]["print_mem_info"] = True
    engine.print_mem_info = True
    loops.train_epoch(engine, 1)
    log = open(os.path.join(str(tmp_path), "EConvNeXt_mini", "train.log")).read()
    lines = [ln for ln in log.splitlines() if "[Train][Epoch 1/1][Iter:" in ln]
    assert lines and all(re.search(r"eta: [0-9:]+, max_mem_rss: [0-9.]+ MB$", ln)
                         for ln in lines)


def test_engine_reads_log_ranks_and_print_mem_info(data, tmp_path):
    overrides = tiny_overrides(data, str(tmp_path), epochs=1)
    config = load(QUICK_START, overrides + ["Global.print_mem_info=True",
                                            "Global.log_ranks=0,1"])
    assert Engine(config, "train").print_mem_info
    with pytest.raises(ValueError, match="log_ranks"):
        Engine(load(QUICK_START, overrides + ["Global.log_ranks=zero"]), "train")


def _doc_rows(heading):
    text = open(os.path.join(ROOT, "docs", "paddleclas_paddlex.md")).read()
    section = text.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([A-Za-z]+\.)?([A-Za-z_0-9]+)` \| "
                     r"(honoured|refused|project|warned) \|", line)
        if m:
            rows[((m.group(1) or "")[:-1] or None, m.group(2))] = m.group(3)
    return rows


def test_engine_key_table_in_docs_matches_the_module():
    rows = _doc_rows("### Training, evaluation and export keys")
    expected = {(s, k): "honoured" for s, keys in paddleclas_keys.HONOURED.items() for k in keys}
    expected.update({key: "refused" for key in paddleclas_keys.REFUSED})
    expected.update({key: "project" for key in paddleclas_keys.EXTENSIONS})
    assert rows == expected


def test_predictor_key_table_in_docs_matches_the_module():
    from ppcls_infer import paddleclas_keys as deploy_keys

    rows = _doc_rows("### Predictor keys")
    expected = {("Global", k): "honoured" for k in deploy_keys.HONOURED}
    expected.update({("Global", k): "refused" for k in deploy_keys.REFUSED})
    expected.update({("Global", k): "project" for k in deploy_keys.EXTENSIONS})
    expected.update({("PostProcess", k): "warned" for k in deploy_keys.POSTPROCESS_WARNED})
    assert rows == expected


# ---------------------------------------------------------------- config check
@pytest.mark.parametrize("section, key", sorted(paddleclas_keys.REFUSED, key=str))
def test_every_refused_key_is_refused_with_its_reason(section, key):
    from ppcls_ext.engine.config import ConfigError

    config = load(QUICK_START)
    config["DataLoader"] = dict(config["DataLoader"])
    node = config if section is None else config[section]
    node[key] = {} if section in (None, "DataLoader") else True
    name = key if section is None else f"{section}.{key}"
    reason = paddleclas_keys.REFUSED[(section, key)]
    with pytest.raises(ConfigError, match=re.escape(f"{name} is a PaddleClas key this project "
                                                    f"does not support: {reason}")):
        validate_config(config, "cfg.yaml")


def test_every_honoured_global_key_passes_the_check():
    from ppcls_ext.engine.config import load_config

    values = dict(print_mem_info=True, log_ranks="0,1", export_for_fd=True,
                  pdx_model_name="EConvNeXt_mini", use_ema_weights=True, eval_mode="classification")
    config = load_config(QUICK_START, [f"Global.{k}={v}" for k, v in values.items()] +
                         ["Global.log_ranks=0,1,2,3,4,5,6,7", "Arch.infer_add_softmax=False"])
    assert config["Global"]["log_ranks"] in ("0,1,2,3,4,5,6,7", (0, 1, 2, 3, 4, 5, 6, 7))
    assert parse_log_ranks(config["Global"]["log_ranks"]) == list(range(8))
    for section, keys in paddleclas_keys.HONOURED.items():
        for key in keys:
            assert section != "Global" or key in __import__(
                "ppcls_ext.engine.config", fromlist=["GLOBAL_KEYS"]).GLOBAL_KEYS, key


def validate_config(config, path):
    from ppcls_ext.engine.config import validate_config as check

    return check(config, path)


# ---------------------------------------------------------------- which weights a prefix means
def _touch(path):
    with open(path, "wb") as f:
        f.write(b"x")


def test_a_folder_with_one_checkpoint_means_it_and_with_several_names_them(tmp_path):
    from ppcls_ext.io import resolve_weights_path

    folder = tmp_path / "EConvNeXt_mini"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match=r"holds 0 \(none\)"):
        resolve_weights_path(str(folder))
    for suffix in (".pdparams", ".pdema", ".pdopt", ".pdstates"):
        _touch(str(folder / f"latest{suffix}"))
    assert resolve_weights_path(str(folder)) == str(folder / "latest.pdparams")
    assert resolve_weights_path(str(folder), use_ema=True) == str(folder / "latest.pdema")
    _touch(str(folder / "best_model.safetensors"))
    with pytest.raises(FileNotFoundError, match=r"holds 2 \(best_model, latest\); give the "
                                                r"prefix, e\.g\. .*best_model"):
        resolve_weights_path(str(folder))


def test_the_log_line_names_the_weights_and_the_switch(tmp_path):
    from ppcls_ext.io import describe_weights

    prefix = str(tmp_path / "latest")
    _touch(prefix + ".pdparams")
    assert describe_weights(prefix + ".pdparams", "evaluating") == \
        f"evaluating the model weights {prefix}.pdparams"
    _touch(prefix + ".pdema")
    assert describe_weights(prefix + ".pdparams", "exporting") == (
        f"exporting the model weights {prefix}.pdparams (Global.use_ema_weights=True takes "
        f"its EMA weights {prefix}.pdema)")
    assert describe_weights(prefix + ".pdema", "quantizing") == (
        f"quantizing the EMA weights {prefix}.pdema (Global.use_ema_weights=False takes its "
        f"model weights {prefix}.pdparams)")


# ---------------------------------------------------------------- PaddleClas's predictor keys
DEPLOY_CFG = os.path.join(ROOT, "deploy", "configs", "inference_cls.yaml")


def _predict_cls():
    import sys

    from deploy_helpers import DEPLOY_PY

    if DEPLOY_PY not in sys.path:
        sys.path.insert(0, DEPLOY_PY)
    import predict_cls

    return predict_cls


def _image(digits):
    folder = os.path.join(digits, "images", "val")
    return os.path.join(folder, sorted(os.listdir(folder))[0])


def test_benchmark_reports_the_runs_timings_and_save_log_path_gets_them(exported, digits,
                                                                        tmp_path, capsys):
    log = tmp_path / "logs" / "bench.log"
    code = _predict_cls().main([
        "-c", DEPLOY_CFG, "-o", f"Global.inference_model_dir={exported['dir']}",
        "-o", f"Global.infer_imgs={_image(digits)}", "-o", "Global.enable_mkldnn=False",
        "-o", "Global.benchmark=True", "-o", f"Global.save_log_path={log}",
        "-o", "Global.model_name=EConvNeXt_mini"])
    out = capsys.readouterr().out
    assert code == 0
    lines = [ln for ln in out.splitlines() if ln.startswith("[benchmark]")]
    assert len(lines) == 1 and re.fullmatch(
        r"\[benchmark\] model=EConvNeXt_mini backend=paddle precision=fp32 batch=8 images=1 "
        r"ms per image: preprocess=[0-9.]+ inference=[0-9.]+ postprocess=[0-9.]+", lines[0])
    assert log.read_text().splitlines() == lines


def test_use_onnx_refused_keys_and_saveprelabel(caplog):
    check = _predict_cls().check_paddleclas_keys
    assert check({"Global": {"use_onnx": True}})["Global"]["backend"] == "onnxruntime"
    with pytest.raises(ValueError, match="use_onnx=True asks for ONNX Runtime but Global.backend "
                                         "is 'openvino'"):
        check({"Global": {"use_onnx": True, "backend": "openvino"}})
    assert check({"Global": {"use_int8": False, "use_xpu": False}})  # PaddleClas's defaults
    for key in ("use_int8", "use_xpu", "use_npu", "use_mlu"):
        with pytest.raises(ValueError, match=f"Global.{key}=True is not supported: "):
            check({"Global": {key: True}})
    with caplog.at_level("WARNING", logger="deploy"):
        check({"Global": {}, "PostProcess": {"SavePreLabel": {"save_dir": "x"}}})
    assert "PostProcess.SavePreLabel is not run" in caplog.text


def test_preprocess_overrides_apply_to_the_models_inference_yml(exported, digits):
    predict_cls = _predict_cls()
    config = predict_cls.load_config(DEPLOY_CFG, [
        f"Global.inference_model_dir={exported['dir']}", "Global.enable_mkldnn=False"])
    image = _image(digits)
    assert predict_cls.ClsPredictor(config).preprocess(image).shape == (3, 32, 32)
    resized = predict_cls.ClsPredictor(config, ["PreProcess.transform_ops.0.ResizeImage.size=16"])
    assert resized.preprocess(image).shape == (3, 16, 16)
    # TIPC's override of CropImage at index 1: the digits model has NormalizeImage there
    from ppcls_infer.cli import OverrideError

    with pytest.raises(OverrideError, match=r"has NormalizeImage at index 1, not CropImage "
                                            r"\(its ops: ResizeImage, NormalizeImage, "
                                            r"ToCHWImage\)"):
        predict_cls.ClsPredictor(config, ["PreProcess.transform_ops.1.CropImage.size=224"])


def test_override_creates_a_known_section_the_file_lacks_as_paddleclas():
    """TIPC adds -o AMP.use_amp=False to every training line; PaddleClas's override creates
    the section (the restructured -o parser refused it: 'the top level has no key AMP')."""
    from ppcls_ext.engine.config import ConfigError, load_config

    config = load_config(QUICK_START, ["AMP.use_amp=False", "AMP.scale_loss=128"])
    assert dict(config["AMP"]) == {"use_amp": False, "scale_loss": 128}
    assert "EMA" not in config
    with pytest.raises((ConfigError, ValueError), match="Foo"):
        load_config(QUICK_START, ["Foo.bar=1"])
