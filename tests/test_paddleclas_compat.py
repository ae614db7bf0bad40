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
    config = load(QUICK_START, tiny_overrides(data, str(tmp_path), epochs=1))
    config["Global"]["print_mem_info"] = True
    config["Global"]["log_ranks"] = "0,1"
    engine = Engine(config, "train")
    assert engine.print_mem_info
    config["Global"]["log_ranks"] = "zero"
    with pytest.raises(ValueError, match="log_ranks"):
        Engine(config, "train")


def _doc_rows(heading):
    text = open(os.path.join(ROOT, "docs", "paddleclas_paddlex.md")).read()
    section = text.split(heading, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([A-Za-z]+\.)?([A-Za-z_0-9]+)` \| (honoured|refused|project) \|", line)
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
    expected.update({("PostProcess", k): "refused" for k in deploy_keys.POSTPROCESS_REFUSED})
    assert rows == expected
