"""SIGTERM and Ctrl-C stop training within seconds, DataLoader workers included, with one
line naming the last complete checkpoint (threat model in docs/security.md).

Each trial runs tools/train.py on a tiny set (24 images, 2 loader workers), sends SIGTERM to
the process or SIGINT to its process group (what Ctrl-C does) at a random point, and checks:
the process and all its workers are gone within ``DEADLINE`` seconds, stderr ends in one
``error: training stopped by ...`` line without a traceback, and the checkpoint it names is
complete. Two trials run by default, 20 with ``--runslow``; each prints a SIGNAL-TRIAL line.
"""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from engine_helpers import QUICK_START, ROOT, tiny_overrides

DEADLINE = 15.0  # seconds from the signal to the last process gone
TRAIN = os.path.join(ROOT, "tools", "train.py")


def _trial(data, out, seed):
    rng = random.Random(seed)
    signum = (signal.SIGTERM, signal.SIGINT)[seed % 2]
    overrides = tiny_overrides(data, out, epochs=3, extra=[
        "Global.save_interval=1", "Global.eval_during_train=False",
        "DataLoader.Train.loader.num_workers=2"])
    cmd = [sys.executable, TRAIN, "-c", QUICK_START]
    for o in overrides:
        cmd += ["-o", o]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    watchdog = threading.Timer(300, lambda: os.killpg(proc.pid, signal.SIGKILL))
    watchdog.start()
    try:
        steps = 0
        target = rng.randrange(1, 15)  # 6 iterations an epoch, 3 epochs (+ saves between)
        for line in proc.stdout:
            if "[Train][Epoch" in line and "[Avg]" not in line:
                steps += 1
                if steps >= target:
                    break
        time.sleep(rng.uniform(0, 0.5))
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        tic = time.time()
        if signum == signal.SIGTERM:
            proc.send_signal(signum)
        else:
            os.killpg(proc.pid, signum)
        try:
            _, stderr = proc.communicate(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {DEADLINE}s after {signum.name}")
        while time.time() - tic < DEADLINE and any(psutil.pid_exists(p) and psutil.Process(
                p).status() != psutil.STATUS_ZOMBIE for p in family[1:]):
            time.sleep(0.1)
        elapsed = time.time() - tic
        alive = [p for p in family[1:] if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not alive, f"workers {alive} still running after {signum.name}"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr[-2000:]
    assert lines and lines[-1].startswith(f"error: training stopped by {signum.name}"), lines
    last = lines[-1]
    if "last complete checkpoint is " in last:
        path = last.split("last complete checkpoint is ")[1].split(" (epoch")[0]
        from ppcls_ext.io import read_state_dict

        assert read_state_dict(path + ".pdparams")  # whole, loadable
        assert os.path.exists(path + ".pdstates")
    else:
        assert "no checkpoint had been saved yet" in last
    print(f"SIGNAL-TRIAL seed={seed} {signum.name} after {steps} logged steps: exit "
          f"{proc.returncode}, all processes gone in {elapsed:.1f}s; {last}")
    return elapsed


@pytest.mark.integration
@pytest.mark.parametrize("seed", [0, 1])
def test_signal_stops_training_cleanly(data, tmp_path, seed):
    _trial(data, str(tmp_path / "out"), seed)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 22))
def test_signal_random_trials(data, tmp_path, seed):
    _trial(data, str(tmp_path / "out"), seed)
