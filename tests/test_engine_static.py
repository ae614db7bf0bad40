"""Config keys PaddleClas's engine acts on, acted on here too: Global.to_static (the model as
a static graph), Metric.Train (accuracy in the training log); and the Global
keys this engine refuses instead of ignoring (use_dali, eval_mode)."""
import os
import re

import numpy as np
import paddle
import pytest
from paddle.jit.dy2static.program_translator import StaticFunction

from engine_helpers import QUICK_START, load, tiny_overrides
from ppcls_ext.engine import Engine, loops

pytestmark = pytest.mark.integration  # trains


def _engine(data, out, *extra, mode="train"):
    return Engine(load(QUICK_START, tiny_overrides(data, out, epochs=1, extra=[
        "Global.seed=7", *extra])), mode)


def _step_losses(engine):
    seen, forward = [], engine.train_loss.forward

    def record(logits, labels):
        out = forward(logits, labels)
        seen.append(float(out["loss"]))
        return out
    engine.train_loss.forward = record
    return seen


def test_to_static_trains_and_evaluates_like_dygraph_with_the_same_checkpoints(data, tmp_path):
    runs = {}
    for to_static in (False, True):
        engine = _engine(data, str(tmp_path / f"s{to_static}"), f"Global.to_static={to_static}")
        assert isinstance(engine.model.forward, StaticFunction) == to_static
        losses = _step_losses(engine)
        states = engine.train()  # one epoch of 6 steps, eval, checkpoints
        runs[to_static] = dict(losses=losses, states=states,
                               params={k: v.numpy() for k, v in
                                       engine.base_model.state_dict().items()},
                               eval=loops.evaluate(engine, 1))
    dy, st = runs[False], runs[True]
    assert len(st["losses"]) == 6
    np.testing.assert_allclose(st["losses"], dy["losses"], rtol=1e-5)
    assert sorted(st["params"]) == sorted(dy["params"])  # same state_dict keys
    for key, value in dy["params"].items():
        np.testing.assert_allclose(st["params"][key], value, rtol=1e-4, atol=1e-6, err_msg=key)
    for key, value in dy["eval"].items():
        assert st["eval"][key] == pytest.approx(value, rel=1e-5), key

    # the to_static run's checkpoint is an ordinary one: a dygraph engine resumes from it
    latest = os.path.join(str(tmp_path / "sTrue"), "EConvNeXt_mini", "latest")
    engine = _engine(data, str(tmp_path / "eval"), f"Global.pretrained_model={latest}",
                     mode="eval")
    assert not isinstance(engine.model.forward, StaticFunction)
    for key, value in engine.eval().items():
        assert value == pytest.approx(st["eval"][key], rel=1e-5), key


def test_train_metrics_are_computed_and_logged(data, tmp_path):
    engine = _engine(data, str(tmp_path))
    hits = []
    update = engine.train_metrics[0].update
    engine.train_metrics[0].update = lambda logits, labels: hits.append(
        (logits.argmax(-1).numpy() == labels.numpy().ravel()).sum()) or update(logits, labels)
    result = loops.train_epoch(engine, 1)
    assert len(hits) == 6  # every step, as PaddleClas's update_metric
    assert result["top1"] == pytest.approx(sum(hits) / 24)
    assert result["top5"] == 1.0  # 3 classes: top-5 always holds the label
    log = open(os.path.join(str(tmp_path), "EConvNeXt_mini", "train.log")).read()
    assert re.search(r"\[Iter: 5/6\]lr: [0-9.]+, CELoss: [0-9.]+, loss: [0-9.]+, "
                     r"top1: [0-9.]+, top5: 1.00000, batch_cost", log)


@pytest.mark.parametrize("override,message", [
    ("Global.use_dali=True", "Global.use_dali=True: NVIDIA DALI loading is not implemented"),
    ("Global.eval_mode=retrieval", "Global.eval_mode='retrieval' is not implemented by this "
                                   "engine (valid: classification)"),
])
def test_unimplemented_global_switches_are_refused(data, tmp_path, override, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _engine(data, str(tmp_path), override)


def test_default_switches_are_accepted(data, tmp_path):
    engine = _engine(data, str(tmp_path), "Global.use_dali=False",
                     "Global.eval_mode=classification", "Global.to_static=False", mode="eval")
    assert not isinstance(engine.model.forward, StaticFunction)
    assert paddle.in_dynamic_mode()
