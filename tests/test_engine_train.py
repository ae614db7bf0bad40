"""Engine end to end: train/eval/infer runs, resume after SIGKILL, faults, configs, DDP."""
import glob
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest

from engine_helpers import IMAGENET, QUICK_START, ROOT, load, make_split, tiny_overrides
from ppcls_ext.engine import Engine
from ppcls_ext.engine import loops

pytestmark = pytest.mark.integration  # trains, runs the tools as processes

TRAIN_LINE = re.compile(r"\[Train\]\[Epoch (\d+)/(\d+)\]\[Iter: (\d+)/(\d+)\]lr: ([0-9.e-]+), "
                        r"CELoss: [0-9.]+, loss: [0-9.]+, top1: [0-9.]+, top5: [0-9.]+, "
                        r"batch_cost: [0-9.]+s, reader_cost: [0-9.]+s, ips: [0-9.]+ samples/s, "
                        r"eta: \d+:\d\d:\d\d")
EVAL_LINE = re.compile(r"\[Eval\]\[Epoch (\d+)\]\[Avg\]CELoss: [0-9.]+, loss: [0-9.]+, "
                       r"top1: ([0-9.]+), top5: [0-9.]+")


def run_tool(tool, overrides, config=QUICK_START, env=None, **kwargs):
    cmd = [sys.executable, os.path.join(ROOT, "tools", f"{tool}.py"), "-c", config]
    for o in overrides:
        cmd += ["-o", o]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, **(env or {})), **kwargs)


def test_train_eval_infer_cli_writes_paddleclas_layout(data, tmp_path):
    out = str(tmp_path / "out")
    result = run_tool("train", tiny_overrides(data, out, extra=["Global.save_interval=1"]))
    assert result.returncode == 0, result.stderr[-3000:]
    log = open(os.path.join(out, "EConvNeXt_mini", "train.log")).read()
    assert len(TRAIN_LINE.findall(log)) >= 12 and len(EVAL_LINE.findall(log)) == 2
    model_dir = os.path.join(out, "EConvNeXt_mini")
    for prefix in ("latest", "best_model", "epoch_1", "epoch_2"):
        for suffix in (".pdparams", ".pdopt", ".pdstates"):
            assert os.path.isfile(os.path.join(model_dir, prefix + suffix)), prefix + suffix
    assert os.path.getsize(os.path.join(model_dir, "curves.png")) > 1000
    assert not glob.glob(os.path.join(model_dir, "*.tmp*"))

    best = os.path.join(model_dir, "best_model")
    result = run_tool("eval", tiny_overrides(data, out) + [f"Global.pretrained_model={best}"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert EVAL_LINE.search(result.stdout)
    result = run_tool("infer", tiny_overrides(data, out) + [
        f"Global.pretrained_model={best}", f"Infer.infer_imgs={data}/img",
        "Infer.PostProcess.class_id_map_file=None", "Infer.batch_size=4"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("'class_ids'") == 33


def test_sigkill_mid_epoch_then_resume_continues_at_right_epoch_and_lr(data, tmp_path):
    out = str(tmp_path / "out")
    overrides = tiny_overrides(data, out, epochs=3, batch_size=2,
                               extra=["Global.eval_during_train=False"])
    cmd = [sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", QUICK_START]
    for o in overrides:
        cmd += ["-o", o]
    log_path = os.path.join(out, "EConvNeXt_mini", "train.log")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:  # kill in the middle of epoch 2, after `latest` of epoch 1 exists
        while time.time() < deadline:
            if os.path.exists(log_path) and "[Epoch 2/3][Iter: 4/12]" in open(log_path).read():
                break
            assert proc.poll() is None, "training ended before it could be killed"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    states = paddle.load(os.path.join(out, "EConvNeXt_mini", "latest.pdstates"))
    assert states["epoch"] == 1 and states["global_step"] == 12

    killed = TRAIN_LINE.findall(open(log_path).read())
    os.remove(log_path)
    latest = os.path.join(out, "EConvNeXt_mini", "latest")
    result = run_tool("train", overrides + [f"Global.checkpoints={latest}"])
    assert result.returncode == 0, result.stderr[-3000:]
    lines = TRAIN_LINE.findall(open(log_path).read())
    assert lines[0][:3] == ("2", "3", "0")  # resumed at epoch 2, iteration 0
    # the same LR as the killed run logged at that iteration (the LR after the step) ...
    same_iter = [line for line in killed if line[:3] == ("2", "3", "0")]
    assert same_iter and same_iter[0][4] == lines[0][4]
    # ... which is the uninterrupted schedule: warm-up over 12 steps, then cosine over 24
    # steps from 2e-3 to 1e-5; after 13 steps the cosine is at step 1, at the end at 24
    def cosine(k):
        return 1e-5 + (2e-3 - 1e-5) * (1 + math.cos(math.pi * k / 24)) / 2
    assert float(lines[0][4]) == pytest.approx(cosine(1), rel=1e-4)
    assert float(lines[-1][4]) == pytest.approx(cosine(24), rel=1e-4)
    assert paddle.load(latest + ".pdstates")["epoch"] == 3
    # the history goes on from the checkpoint: epoch 1 of the killed run, 2 and 3 of this one
    import json

    with open(os.path.join(out, "EConvNeXt_mini", "history.json")) as f:
        assert [h["epoch"] for h in json.load(f)] == [1, 2, 3]


def test_one_epoch_smoke_run_clamps_the_warmup(data, tmp_path, ppcls_warnings):
    # the quick-start config warms up for 1 epoch: -o Global.epochs=1 must still train
    engine = Engine(load(QUICK_START, tiny_overrides(data, str(tmp_path), epochs=1)), "train")
    assert any("warming up over all 1 epoch(s)" in m for m in ppcls_warnings)
    states = engine.train()
    assert states["epoch"] == 1 and states["global_step"] == 6
    assert engine.optimizer.get_lr() == pytest.approx(2e-3)  # the warm-up's end


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data, tmp_path):
    out = str(tmp_path / "out")
    engine = Engine(load(QUICK_START, tiny_overrides(data, out, epochs=3)), "train")
    engine.train_loss.forward = _nan_from_epoch(engine.train_loss.forward, engine, 2)
    with pytest.raises(loops.NonFiniteLossError, match="epoch 2.*last good checkpoint"):
        engine.train()
    latest = os.path.join(out, "EConvNeXt_mini", "latest")
    assert paddle.load(latest + ".pdstates")["epoch"] == 1
    assert np.isfinite(np.concatenate([v.numpy().ravel() for v in
                                       paddle.load(latest + ".pdparams").values()])).all()


def _nan_from_epoch(forward, engine, epoch):
    def wrapped(logits, labels):
        out = forward(logits, labels)
        if engine.states["epoch"] + 1 >= epoch:
            out["loss"] = out["loss"] * float("nan")
        return out
    return wrapped


@pytest.mark.parametrize("override,message", [
    ("Arch.name=EConvNeXt_tiyn", "Unknown Arch.name 'EConvNeXt_tiyn'. Did you mean"),
    ("Arch.class_num=2", "label 2 is outside [0, 2)"),
    ("Global.epoch=3", "unknown key 'epoch' in Global (did you mean 'epochs'?)"),
    ("DataLoader.Train.dataset.image_root=/nonexistent", "image_root '/nonexistent'"),
    ("Global.checkpoints=/nonexistent/latest", "Global.checkpoints='/nonexistent/latest'"),
    ("Global.device=gpu", "CPU build"),
])
def test_user_errors_give_one_clear_line(data, tmp_path, override, message):
    if override == "Global.device=gpu" and paddle.device.is_compiled_with_cuda():
        pytest.skip("this Paddle has CUDA")
    result = run_tool("train", tiny_overrides(data, str(tmp_path)) + [override])
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_debug_switch_shows_the_full_traceback(data, tmp_path):
    result = run_tool("train", tiny_overrides(data, str(tmp_path)) + ["Global.epoch=3"],
                      env={"PPCLS_DEBUG": "1"})
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "ConfigError: " in result.stderr and "unknown key 'epoch' in Global" in result.stderr


@pytest.mark.parametrize("variant", ["mini", "tiny", "small"])
def test_imagenet_config_trains_one_iteration(variant, tmp_path):
    root = make_split(str(tmp_path), 2, classes=2, size=(40, 30))
    overrides = ["Global.device=cpu", f"Global.output_dir={tmp_path}/out",
                 f"DataLoader.Train.dataset.image_root={root}",
                 f"DataLoader.Train.dataset.cls_label_path={root}/train_list.txt",
                 "DataLoader.Train.sampler.batch_size=2", "DataLoader.Train.loader.num_workers=0",
                 f"DataLoader.Eval.dataset.image_root={root}",
                 f"DataLoader.Eval.dataset.cls_label_path={root}/train_list.txt"]
    engine = Engine(load(IMAGENET[variant], overrides), "train")
    assert len(engine.train_loader) == 1
    images, labels = next(iter(engine.train_loader))
    assert images.shape == [2, 3, 224, 224] and labels.shape == [2, 1000]  # mixup/cutmix
    assert engine.train_metrics == []  # Metric.Train dropped with mixed labels, as PaddleClas
    result = loops.train_epoch(engine, 1)
    assert math.isfinite(result["loss"]) and engine.states["global_step"] == 1
    # warm-up from 0 over 20 epochs of 1 step: after one step, 2.5e-4 / 20
    assert engine.optimizer.get_lr() == pytest.approx(2.5e-4 / 20)


def test_update_freq_accumulates_and_amp_on_cpu_warns(data, tmp_path, ppcls_warnings):
    config = load(QUICK_START, tiny_overrides(data, str(tmp_path), extra=[
        "Global.update_freq=2", "AMP.use_amp=True", "AMP.level=O1"]))
    engine = Engine(config, "train")
    assert engine.amp_level is None  # CPU: fp32 with a warning
    assert ppcls_warnings == ["AMP is configured but the device is CPU: running in fp32 "
                              "(AMP needs a GPU)."]
    loops.train_epoch(engine, 1)
    assert engine.states["global_step"] == 3  # 6 iterations / update_freq 2


@pytest.mark.distributed
def test_two_process_launch_trains_with_one_set_of_checkpoints(data, tmp_path):
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
           "--log_dir", str(tmp_path / "log"), os.path.join(ROOT, "tools", "train.py"),
           "-c", QUICK_START]
    for o in tiny_overrides(data, out, epochs=2):
        cmd += ["-o", o]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    logs = {p: open(p).read() for p in glob.glob(str(tmp_path / "log" / "workerlog.*"))}
    assert result.returncode == 0, result.stderr[-2000:] + "".join(logs.values())[-3000:]
    log = open(os.path.join(out, "EConvNeXt_mini", "train.log")).read()
    # 24 images over 2 ranks x batch 4: 3 iterations per rank per epoch
    assert "[Train][Epoch 1/2][Iter: 2/3]" in log and "[Iter: 3/" not in log
    assert len(EVAL_LINE.findall(log)) == 2
    files = sorted(os.listdir(os.path.join(out, "EConvNeXt_mini")))
    assert "latest.pdparams" in files and "best_model.pdparams" in files
    assert not [f for f in files if ".tmp" in f]
    # 9 validation images on 2 ranks: the metric is the one-process metric (Paddle's sampler
    # would pad to 10 and count the first image twice)
    best = ["-o", f"Global.pretrained_model={out}/EConvNeXt_mini/best_model"]
    overrides = [a for o in tiny_overrides(data, str(tmp_path / "eval"), epochs=2)
                 for a in ("-o", o)]
    single = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "eval.py"), "-c",
                             QUICK_START, *overrides, *best], capture_output=True, text=True,
                            timeout=600, cwd=str(tmp_path))
    assert single.returncode == 0, single.stderr[-2000:]
    pair = subprocess.run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node",
                           "2", "--log_dir", str(tmp_path / "evlog"),
                           os.path.join(ROOT, "tools", "eval.py"), "-c", QUICK_START, *overrides,
                           *best], capture_output=True, text=True, timeout=600,
                          cwd=str(tmp_path))
    pair_log = open(tmp_path / "evlog" / "workerlog.0").read()
    assert pair.returncode == 0, pair.stderr[-2000:] + pair_log[-2000:]
    avg = re.compile(r"\[Eval\]\[Epoch 0\]\[Avg\](.*)")
    assert avg.findall(pair_log) == avg.findall(single.stdout + single.stderr) != []
