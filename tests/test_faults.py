"""Fault injection: what a long training run meets, and what must survive it.

SIGKILL at random points of training and of checkpoint saves (a few trials here, 20 more with
``--runslow``), a write failure while saving, a checkpoint of another Arch/class_num, a
corrupt ``.pdopt`` / ``.pdstates``, and one rank of a 2-process run killed. Every trial
prints one ``FAULT-TRIAL`` line (``-s`` shows them); docs/training.md has the figures.
"""
import errno
import glob
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import paddle
import psutil
import pytest

from engine_helpers import QUICK_START, ROOT, load, tiny_overrides
from fault_driver import checksum
from ppcls_ext.io import read_state_dict
from ppcls_ext.engine import Engine, loops
from ppcls_ext.io import checkpoint
from ppcls_ext.engine.lr import build_lr

pytestmark = pytest.mark.integration  # trains in processes and kills them

EPOCHS, STEPS = 2, 6  # 24 images, batch 4
DRIVER = os.path.join(ROOT, "tests", "fault_driver.py")


def _overrides(data, out, *extra):
    return tiny_overrides(data, out, epochs=EPOCHS, extra=[
        "Global.save_interval=1", "Global.eval_during_train=False", *extra])


# ------------------------------------------------------------------ SIGKILL trials
def _run_and_kill(data, out, rng, kind, die_after_renames=None, index=None):
    """Run the driver; SIGKILL it at a random step (``train``) or inside a random save
    (``save``). Returns the events seen (name, words, time) and what was done."""
    cmd = [sys.executable, DRIVER]
    if die_after_renames:
        cmd += ["--die-after-renames", str(die_after_renames)]
    cmd += ["--", "-c", QUICK_START]
    for o in _overrides(data, out):
        cmd += ["-o", o]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    watchdog = threading.Timer(400, proc.kill)
    watchdog.start()
    events, plan = [], None
    if kind == "train":
        plan = ("STEP", rng.randrange(EPOCHS * STEPS) if index is None else index,
                rng.uniform(0, 0.3))
    elif kind == "save":  # saves: epoch_1, latest 1, epoch_2, latest 2
        plan = ("SAVE_BEGIN", rng.randrange(2 * EPOCHS) if index is None else index, None)
    try:
        for line in proc.stdout:
            words = line.split()
            if not words or words[0] not in ("STEP", "SAVE_BEGIN", "SAVE_END", "DONE"):
                continue
            events.append((words[0], words[1:], time.time()))
            if plan and words[0] == plan[0] and \
                    sum(e[0] == plan[0] for e in events) == plan[1] + 1:
                delay = plan[2]
                if delay is None:  # somewhere inside this save: up to the first save's length
                    begins = [e[2] for e in events if e[0] == "SAVE_BEGIN"]
                    ends = [e[2] for e in events if e[0] == "SAVE_END"]
                    delay = rng.uniform(0, (ends[0] - begins[0]) if ends else 0.5)
                time.sleep(delay)
                proc.send_signal(signal.SIGKILL)
                events.append(("KILL", [f"{delay:.3f}s"], time.time()))
                break
    finally:
        proc.wait()
        watchdog.cancel()
    return events, proc.returncode


def _expected_latest(events, model_dir):
    """The saves resume may see, {epoch: weights checksum}: the last completed ``latest``
    save, and the one in flight when killed (complete on disk if the kill came after its
    last rename, or rolled forward from its journal if it came between the renames)."""
    done = [e[1] for e in events if e[0] == "SAVE_END" and e[1][0] == "latest"]
    begun = [e[1] for e in events if e[0] == "SAVE_BEGIN" and e[1][0] == "latest"]
    if os.path.exists(os.path.join(model_dir, "latest" + checkpoint.JOURNAL)):
        return {int(begun[-1][1]): float(begun[-1][2])}
    saves = done[-1:] + (begun[-1:] if len(begun) > len(done) else [])
    return {int(s[1]): float(s[2]) for s in saves}


def _check_trial(data, out, events):
    """After a kill: no truncated final file; resume sees the right epoch, weights and LR."""
    model_dir = os.path.join(out, "EConvNeXt_mini")
    finals = [p for p in glob.glob(os.path.join(model_dir, "*.pd*")) if ".tmp" not in p]
    for path in finals:  # every file under a final name is complete
        read_state_dict(path)
    expected = _expected_latest(events, model_dir)
    latest = os.path.join(model_dir, "latest")
    if not os.path.exists(latest + ".pdstates") and not \
            os.path.exists(latest + checkpoint.JOURNAL):
        assert len(expected) <= 1 and not [e for e in events if e[0] == "SAVE_END" and
                                           e[1][0] == "latest"]
        return "no checkpoint yet"
    config = load(QUICK_START, _overrides(data, out, f"Global.checkpoints={latest}"))
    engine = Engine(config, "train")
    epoch = engine.states["epoch"]
    assert epoch in expected, (epoch, expected)  # the last complete save (or the rolled one)
    in_flight = [e[1] for e in events if e[0] == "SAVE_BEGIN"][-1:]
    in_flight = in_flight[0] if in_flight and in_flight[0] not in [
        e[1] for e in events if e[0] == "SAVE_END"] else None
    assert engine.states["global_step"] == epoch * STEPS
    # the weights are those of that same save, not of the neighbouring one
    assert checksum(engine.base_model) == pytest.approx(expected[epoch], rel=1e-6)
    schedule = build_lr(config["Optimizer"]["lr"], EPOCHS, STEPS)
    for _ in range(epoch * STEPS):
        schedule.step()
    assert engine.optimizer.get_lr() == pytest.approx(schedule.get_lr(), rel=1e-9)
    assert not glob.glob(latest + ".*tmp*") and not os.path.exists(latest + checkpoint.JOURNAL)
    fate = "" if not in_flight or in_flight[0] != "latest" else (
        ", the killed save had committed" if int(in_flight[1]) == epoch
        else ", the killed save was discarded")
    return f"resumed from the epoch-{epoch} checkpoint{fate}"


def _trial(data, tmp_path, seed, kind, die_after_renames=None, index=None):
    out = str(tmp_path / f"trial{seed}")
    rng = random.Random(seed)
    events, code = _run_and_kill(data, out, rng, kind, die_after_renames, index)
    marks = [e for e in events if e[0] != "KILL"]
    killed_at = (marks[-1][:2] if marks else None,
                 [e[1][0] for e in events if e[0] == "KILL"][:1])
    try:
        outcome = _check_trial(data, out, events)
    except Exception as exc:
        print(f"FAULT-TRIAL seed={seed} kind={kind} killed_at={killed_at} LOST: {exc!r}")
        raise
    print(f"FAULT-TRIAL seed={seed} kind={kind} killed_at={killed_at} exit={code} "
          f"survived: {outcome}")
    shutil.rmtree(out, ignore_errors=True)
    return outcome


@pytest.mark.parametrize("seed,kind,index", [(1, "train", 7), (2, "save", 3)])
def test_sigkill_at_a_random_point_resumes_from_the_last_complete_checkpoint(
        data, tmp_path, seed, kind, index):
    # in the default run: a kill in epoch 2 (step 7 + up to 0.3 s), and one at a random moment
    # of the last save (`latest` of epoch 2); the slow test draws both at random
    outcome = _trial(data, tmp_path, seed, kind, index=index)
    # epoch 1's checkpoint is complete in both plans: a resume, never "no checkpoint yet"
    assert outcome.startswith("resumed from the epoch-"), outcome


@pytest.mark.parametrize("renames", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_sigkill_between_the_renames_of_a_save_is_rolled_forward(data, tmp_path, renames):
    # epoch_1, latest and epoch_2 take renames 1-9; then `latest` of epoch 2 gets its
    # .pdparams (1) or .pdparams and .pdopt (2) renamed, not yet .pdstates: without the
    # journal, epoch-2 weights with epoch-1 states (a mixed checkpoint)
    outcome = _trial(data, tmp_path, 100 + renames, "none", die_after_renames=9 + renames)
    assert outcome.startswith("resumed from the epoch-2 checkpoint"), outcome  # rolled forward


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(20))
def test_sigkill_random_trials(data, tmp_path, seed):
    _trial(data, tmp_path, 1000 + seed, "save" if seed % 2 else "train")


# ------------------------------------------------------------------ in-process faults
@pytest.fixture
def saved(data, tmp_path):
    """An engine of the tiny config with ``latest`` of epoch 1 written."""
    out = str(tmp_path / "out")
    engine = Engine(load(QUICK_START, _overrides(data, out)), "train")
    engine.states.update(epoch=1, global_step=STEPS)
    loops._save(engine, "latest", 1)
    return engine, os.path.join(engine.output_dir, "latest"), out


def test_disk_full_while_saving_keeps_the_previous_checkpoint(saved, monkeypatch):
    engine, latest, _ = saved
    before = {s: open(latest + s, "rb").read() for s in (".pdparams", ".pdopt", ".pdstates")}
    real_save, calls = paddle.save, []

    def full_disk(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # .pdparams written, then .pdopt hits a full disk half-way
            with open(path, "wb") as f:
                f.write(b"\0" * 1000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_save(obj, path, *args, **kwargs)
    monkeypatch.setattr(paddle, "save", full_disk)
    engine.states.update(epoch=2, global_step=2 * STEPS)
    with pytest.raises(checkpoint.CheckpointWriteError) as err:
        loops._save(engine, "latest", 2)
    message = str(err.value)
    assert "\n" not in message and "No space left on device" in message
    assert f"The previous checkpoint {latest}.* is intact" in message and ".pdopt.tmp" in message
    for suffix, content in before.items():
        assert open(latest + suffix, "rb").read() == content, suffix
    assert not glob.glob(latest + ".*tmp*") and not os.path.exists(latest + checkpoint.JOURNAL)


@pytest.mark.parametrize("override,keys", [
    ("Arch.class_num=4", r"2 differ in shape: head\.\S+: checkpoint \(\d+, 3\) vs model "
                         r"\(\d+, 4\), head\.\S+: checkpoint \(3,\) vs model \(4,\)\. "),
    ("Arch.name=EConvNeXt_tiny", r"\d+ differ in shape: .*; \d+ missing in the checkpoint: "),
])
def test_resume_with_another_arch_or_class_num_names_the_keys(saved, data, override, keys):
    _, latest, out = saved
    config = load(QUICK_START, _overrides(data, out, f"Global.checkpoints={latest}", override))
    with pytest.raises(ValueError, match="does not fit the model") as err:
        Engine(config, "train")
    assert re.search(keys, str(err.value)) and "\n" not in str(err.value)


@pytest.mark.parametrize("suffix,damage", [
    (".pdopt", "truncate"), (".pdstates", "garbage"), (".pdopt", "empty")])
def test_corrupt_optimizer_or_states_file_alone_is_a_clear_error(saved, data, suffix, damage):
    _, latest, out = saved
    path = latest + suffix
    raw = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write({"truncate": raw[:len(raw) // 2], "garbage": b"not a pickle at all",
                 "empty": b""}[damage])
    config = load(QUICK_START, _overrides(data, out, f"Global.checkpoints={latest}"))
    with pytest.raises(ValueError) as err:
        Engine(config, "train")
    assert repr(path) in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------ distributed
@pytest.mark.distributed
def test_two_process_run_with_one_rank_killed_stops_in_bounded_time(data, tmp_path):
    out = str(tmp_path / "out")
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
           "--log_dir", str(tmp_path / "log"), os.path.join(ROOT, "tools", "train.py"),
           "-c", QUICK_START]
    for o in tiny_overrides(data, out, epochs=50, batch_size=2):
        cmd += ["-o", o]
    launcher = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=str(tmp_path), start_new_session=True)
    try:
        rank1 = _wait_for_training_rank(
            launcher, os.path.join(out, "EConvNeXt_mini", "train.log"), rank=1)
        rank1.send_signal(signal.SIGKILL)
        killed = time.time()
        code = launcher.wait(timeout=180)  # bounded: raises TimeoutExpired on a hang
        stopped_after = time.time() - killed
        print(f"FAULT-TRIAL kind=rank-kill launcher exit={code} after {stopped_after:.1f}s")
        assert code != 0
        time.sleep(1)
        left = [p for p in psutil.process_iter(["cmdline"])
                if str(tmp_path) in " ".join(p.info["cmdline"] or [])]
        assert not left, f"processes left running: {left}"
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()


def _wait_for_training_rank(launcher, log_path, rank, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert launcher.poll() is None, "the launcher ended before a rank could be killed"
        if os.path.exists(log_path) and "[Iter: 2/" in open(log_path).read():
            for child in psutil.Process(launcher.pid).children(recursive=True):
                try:
                    env = child.environ()
                except psutil.Error:
                    continue
                if env.get("PADDLE_TRAINER_ID") == str(rank) and "train.py" in \
                        " ".join(child.cmdline()):
                    return child
        time.sleep(0.2)
    raise AssertionError("no training step logged in time")
