"""GPU-path correctness of the engine (issue 10), reproduced on CPU.

Each test here failed on the engine before its fix; the figure it failed with is named in
the test's docstring. Multi-rank cases run under the gloo 2-process launch
(tests/dist_probe.py), AMP cases with ``paddle.amp`` mocked where the CPU build makes it a
no-op.
"""
import math
import os

import paddle
import pytest

from engine_helpers import QUICK_START, load, make_split, tiny_overrides
from ppcls_ext.engine import Engine
from ppcls_ext.engine import loops


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    make_split(root, 24, name="train_list.txt")
    make_split(root, 9, name="val_list.txt")
    return root


def _engine(data, out, epochs=3, batch_size=4, extra=(), mode="train"):
    overrides = tiny_overrides(data, out, epochs=epochs, batch_size=batch_size,
                               extra=["Global.eval_during_train=False", *extra])
    return Engine(load(QUICK_START, overrides), mode)


def test_resume_with_other_steps_per_epoch_keeps_the_schedule(data, tmp_path):
    """Defect 1: 3 epochs, epoch 1 at batch 4 (6 steps), resumed at batch 8 (3 steps per
    epoch). Before the fix the restored scheduler counted 6 steps done of the new 3-step
    epochs and the periodic cosine ended at 1.0e-3 instead of eta_min 1e-5."""
    out = str(tmp_path / "out")
    with paddle.utils.unique_name.guard():  # parameter names as in a fresh process
        first = _engine(data, out, batch_size=4)
        loops.train_epoch(first, 1)
        first.states["epoch"] = 1
        loops._save(first, "latest", 1)
    latest = os.path.join(out, "EConvNeXt_mini", "latest")

    lrs = []
    step = loops._step

    def spy(engine):
        step(engine)
        lrs.append(engine.optimizer.get_lr())
    loops._step = spy
    try:
        with paddle.utils.unique_name.guard():
            _engine(data, out, batch_size=8, extra=[f"Global.checkpoints={latest}"]).train()
    finally:
        loops._step = step
    # warm-up 1 epoch = 3 new steps, cosine over 6 steps from 2e-3 to 1e-5; epoch 2 starts
    # at step 3, so the first resumed step ends at cosine step 1, the last at 6
    def cosine(k):
        return 1e-5 + (2e-3 - 1e-5) * (1 + math.cos(math.pi * k / 6)) / 2
    assert len(lrs) == 6
    assert lrs[-1] == pytest.approx(1e-5, rel=1e-6)
    assert lrs[0] == pytest.approx(cosine(1), rel=1e-6)
    assert paddle.load(latest + ".pdstates")["step_each_epoch"] == 3
