"""GPU-path correctness of the engine, reproduced on CPU.

Each test here failed on the engine before its fix; the figure it failed with is named in
the test's docstring. Multi-rank cases run under the gloo 2-process launch
(tests/dist_probe.py), AMP cases with ``paddle.amp`` mocked where the CPU build makes it a
no-op.
"""
import json
import math
import os
import subprocess
import sys

import paddle
import pytest

from engine_helpers import QUICK_START, ROOT, load, make_split, tiny_overrides
from ppcls_ext.engine import Engine
from ppcls_ext.engine import engine as engine_module
from ppcls_ext.engine import loops

pytestmark = pytest.mark.integration  # trains (and launches 2 processes)


def _engine(data, out, epochs=3, batch_size=4, extra=(), mode="train"):
    overrides = tiny_overrides(data, out, epochs=epochs, batch_size=batch_size,
                               extra=["Global.eval_during_train=False", *extra])
    return Engine(load(QUICK_START, overrides), mode)


def test_resume_with_other_steps_per_epoch_keeps_the_schedule(data, tmp_path, monkeypatch):
    """Regression: 3 epochs, epoch 1 at batch 4 (6 steps), resumed at batch 8 (3 steps per
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
    monkeypatch.setattr(loops, "_step", spy)
    with paddle.utils.unique_name.guard():
        _engine(data, out, batch_size=8, extra=[f"Global.checkpoints={latest}"]).train()
    # warm-up 1 epoch = 3 new steps, cosine over 6 steps from 2e-3 to 1e-5; epoch 2 starts
    # at step 3, so the first resumed step ends at cosine step 1, the last at 6
    def cosine(k):
        return 1e-5 + (2e-3 - 1e-5) * (1 + math.cos(math.pi * k / 6)) / 2
    assert len(lrs) == 6
    assert lrs[-1] == pytest.approx(1e-5, rel=1e-6)
    assert lrs[0] == pytest.approx(cosine(1), rel=1e-6)
    assert paddle.load(latest + ".pdstates")["step_each_epoch"] == 3


def _params(layer):
    return {k: v.numpy().copy() for k, v in layer.state_dict().items()}


def _max_diff(a, b):
    return max(float(abs(a[k].astype("float64") - b[k].astype("float64")).max()) for k in a)


@pytest.fixture
def pretrained(data, tmp_path):
    """Weights unlike the engine's seeded init, as a fine-tune's Global.pretrained_model."""
    with paddle.utils.unique_name.guard():
        engine = _engine(data, str(tmp_path / "pre"), epochs=2)
    weights = {k: v * 1.5 + 0.01 for k, v in _params(engine.model).items()}
    path = str(tmp_path / "pre.pdparams")
    paddle.save({k: paddle.to_tensor(v) for k, v in weights.items()}, path)
    return path, weights


def test_ema_starts_from_the_pretrained_weights(data, tmp_path, pretrained):
    """Regression: the EMA copied the model before Global.pretrained_model was loaded, so a
    fine-tune's EMA started from the random init (max |EMA - pretrained| 0.51 before)."""
    path, weights = pretrained
    engine = _engine(data, str(tmp_path / "out"), extra=[
        f"Global.pretrained_model={path}", "EMA.decay=0.9999"])
    assert _max_diff(_params(engine.model), weights) == 0.0
    assert _max_diff(_params(engine.ema.module), weights) == 0.0


class FakeGPUAmp:
    """``paddle.amp`` as a GPU build behaves, on CPU (where decorate/auto_cast are no-ops).

    ``decorate`` does what Paddle 3.3.1's ``amp_decorate`` does to the objects handed to it:
    with ``save_dtype`` it registers Paddle's own ``StateDictHook`` (``state_dict()`` then
    returns cast copies), at O2 it can cast the parameters to float16 (``cast_params``: only
    for tests that do not run the model, CPU kernels lack fp16), and it returns the model
    alone when no optimizer is given. ``auto_cast`` records its arguments.
    """

    def __init__(self, monkeypatch, cast_params=False):
        from paddle.amp.auto_cast import StateDictHook

        self.decorate_calls, self.autocast_calls = [], []
        self.cast_params = cast_params
        self._hook = StateDictHook
        real_autocast = paddle.amp.auto_cast

        def auto_cast(**kwargs):
            self.autocast_calls.append(kwargs)
            return real_autocast(enable=False)

        monkeypatch.setattr(paddle.amp, "decorate", self.decorate)
        monkeypatch.setattr(paddle.amp, "auto_cast", auto_cast)
        # the engine believes it runs on a GPU; tensors stay on the CPU
        monkeypatch.setattr(engine_module, "select_device", lambda name: "gpu")

    def decorate(self, models, optimizers=None, level="O1", dtype="float16",
                 master_weight=None, save_dtype=None, **kwargs):
        self.decorate_calls.append(dict(level=level, optimizers=optimizers is not None,
                                        save_dtype=save_dtype))
        if level == "O2":
            for layer in models.sublayers(include_self=True):
                if self.cast_params and not isinstance(layer, NORMS):
                    layer._to_impl(dtype="float16", include_sublayers=False, floating_only=True)
                if save_dtype:
                    layer.register_state_dict_hook(self._hook(save_dtype))
        return models if optimizers is None else (models, optimizers)


NORMS = (paddle.nn.BatchNorm2D, paddle.nn.LayerNorm, paddle.nn.BatchNorm1D)
AMP_O2 = ["AMP.use_amp=True", "AMP.level=O2", "AMP.scale_loss=1024.0"]


def test_amp_o2_ema_moves_and_is_fp32(data, tmp_path, monkeypatch):
    """Regression: built from the decorated model, the EMA wrote into the cast copies that
    ``state_dict()`` returns under ``save_dtype``: after 6 steps at decay 0.5 it had not
    moved (max |EMA - init| 0.0 before)."""
    amp = FakeGPUAmp(monkeypatch)
    engine = _engine(data, str(tmp_path / "out"), extra=AMP_O2 + ["EMA.decay=0.5"])
    assert amp.decorate_calls == [dict(level="O2", optimizers=True, save_dtype="float32")]
    init = _params(engine.ema.module)
    loops.train_epoch(engine, 1)
    assert _max_diff(_params(engine.ema.module), init) > 1e-3
    # ... and it follows the model it averages (decay 0.5: within a few steps' moves)
    assert _max_diff(_params(engine.ema.module), _params(engine.model)) < \
        _max_diff(init, _params(engine.model))


def test_amp_o2_loads_fp32_weights_before_casting(data, tmp_path, monkeypatch, pretrained):
    """Regression: pretrained weights were loaded after decorate cast the parameters to
    float16: ``set_state_dict`` raised "Variable dtype not match" before."""
    path, weights = pretrained
    FakeGPUAmp(monkeypatch, cast_params=True)
    engine = _engine(data, str(tmp_path / "out"), extra=AMP_O2 + [
        f"Global.pretrained_model={path}", "EMA.decay=0.9999"])
    conv = engine.model.stem.conv1.conv.weight
    assert conv.dtype == paddle.float16  # decorated after loading
    assert _max_diff({"w": conv.astype("float32").numpy()},
                     {"w": weights["stem.conv1.conv.weight"]}) < 1e-2
    assert _max_diff(_params(engine.ema.module), weights) == 0.0  # EMA in fp32


def test_amp_o2_eval_decorates_the_model_alone(data, tmp_path, monkeypatch):
    """Regression: eval/infer unpacked two values from ``decorate(models=...)`` which returns
    the model alone without an optimizer (TypeError before)."""
    amp = FakeGPUAmp(monkeypatch)
    engine = _engine(data, str(tmp_path / "out"), extra=AMP_O2, mode="eval")
    assert amp.decorate_calls == [dict(level="O2", optimizers=False, save_dtype="float32")]
    assert engine.optimizer is None and engine.scaler is None
    result = engine.eval()
    assert math.isfinite(result["loss"]) and amp.autocast_calls  # O2 evaluates in fp16


def test_amp_use_fp16_test_and_use_promote_are_honoured(data, tmp_path, monkeypatch):
    """Regression: ``AMP.use_fp16_test`` (in PaddleClas's own configs) was an unknown key and
    ``AMP.use_promote`` never reached ``auto_cast`` (ConfigError before)."""
    amp = FakeGPUAmp(monkeypatch)
    o1 = ["AMP.use_amp=True", "AMP.level=O1", "AMP.use_promote=False"]
    engine = _engine(data, str(tmp_path / "a"), extra=o1 + [
        "AMP.use_fp16_test=False", "Global.eval_during_train=True"])
    loops.train_epoch(engine, 1)
    assert amp.autocast_calls and all(c["level"] == "O1" and c["use_promote"] is False
                                      for c in amp.autocast_calls)
    amp.autocast_calls.clear()
    engine.eval()
    assert amp.autocast_calls == []  # use_fp16_test False: evaluation in fp32
    evaluator = _engine(data, str(tmp_path / "b"), mode="eval",
                        extra=o1 + ["AMP.use_fp16_test=True"])
    evaluator.eval()
    assert len(amp.autocast_calls) == 3 and amp.decorate_calls == []  # 9 images / 4, O1


def _launch(mode, data, tmp_path, extra=(), timeout=300):
    out = tmp_path / mode
    out.mkdir()
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2",
           "--log_dir", str(out / "log"), os.path.join(ROOT, "tests", "dist_probe.py"),
           mode, str(out)] + tiny_overrides(data, str(out / "train"), epochs=2, extra=[
               "Global.eval_during_train=True", "EMA.decay=0.9", *extra])
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                            cwd=str(tmp_path))
    ranks = [out / f"rank{r}.json" for r in (0, 1)]
    logs = "".join(p.read_text()[-1500:] for p in sorted((out / "log").glob("workerlog.*")))
    return [json.loads(p.read_text()) if p.exists() else None for p in ranks], logs, result


@pytest.fixture(scope="module")
def two_ranks(data, tmp_path_factory):
    """One gloo launch: 24 images over 2 ranks x batch 4 = 3 iterations, update_freq 2."""
    ranks, logs, result = _launch("train", data, tmp_path_factory.mktemp("ddp"),
                                  extra=["Global.update_freq=2"])
    assert None not in ranks, logs + result.stderr[-2000:]
    return ranks


@pytest.mark.distributed
def test_ddp_every_rank_has_the_same_ema(two_ranks):
    """Regression (multi-rank): seeded with seed + rank and copied before DataParallel's
    broadcast, each rank's EMA started from its own random init (sums of |EMA trainable
    parameters| 118646.38 vs 118656.75 on ranks 0/1 before)."""
    assert two_ranks[0]["model_sum"] == two_ranks[1]["model_sum"]
    assert two_ranks[0]["ema_sum"] == pytest.approx(two_ranks[1]["ema_sum"], rel=1e-12)
    assert two_ranks[0]["ema_sum_after"] == pytest.approx(two_ranks[1]["ema_sum_after"],
                                                          rel=1e-9)


@pytest.mark.distributed
def test_ddp_eval_loss_covers_every_rank(two_ranks):
    """Regression: only the top-k counts were all-reduced; each rank logged the loss of its own
    shard (CELoss 1.1033 on rank 0, 1.0884 on rank 1 before)."""
    first, second = two_ranks[0]["eval"], two_ranks[1]["eval"]
    assert first["loss"] == pytest.approx(second["loss"], rel=1e-6)
    assert first["top1"] == second["top1"]


@pytest.mark.distributed
def test_ddp_accumulation_skips_all_reduce_between_boundaries(two_ranks):
    """Regression (no_sync): every micro-step all-reduced; after the first micro-step of two
    both ranks held the same averaged gradient (|grad| 11636.69 on both before). Under
    ``no_sync`` each keeps its own until the boundary. And 3 micro-batches with
    update_freq 2: the third is trimmed (3 iterations ran before)."""
    grads = [r["grad_at_forward"] for r in two_ranks]
    assert [r["iterations"] for r in two_ranks] == [2, 2]
    assert grads[0][0] is None and grads[0][1] != pytest.approx(grads[1][1], rel=1e-3)


def test_accumulation_trims_the_epoch_to_whole_steps(data, tmp_path):
    """Regression (trim): 6 micro-batches with update_freq 4 ran all 6, and the gradients of
    the last 2 stayed in the parameters for the next epoch's first step (|grad| > 0 and 6
    iterations before)."""
    engine = _engine(data, str(tmp_path / "out"), extra=["Global.update_freq=4"])
    seen = []
    forward = engine.model.forward
    engine.model.forward = lambda images: (seen.append(1), forward(images))[1]
    loops.train_epoch(engine, 1)
    assert len(seen) == 4 and engine.states["global_step"] == 1
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0
               for p in engine.model.parameters())


def test_update_freq_beyond_the_epoch_is_refused(data, tmp_path):
    with pytest.raises(ValueError, match="update_freq=8 exceeds the 6 iterations"):
        _engine(data, str(tmp_path / "out"), extra=["Global.update_freq=8"])


def test_no_host_sync_between_forward_and_backward(data, tmp_path, monkeypatch):
    """Regression (sync): ``float(loss)`` in the finiteness check fetched the loss from the
    device before every backward, stalling a GPU's stream (1 fetch between forward and
    backward per iteration before). The one fetch per step comes after the step."""
    engine = _engine(data, str(tmp_path / "out"), epochs=2)
    events = []
    to_float, backward = paddle.Tensor.__float__, paddle.Tensor.backward
    monkeypatch.setattr(paddle.Tensor, "__float__",
                        lambda t: (events.append("fetch"), to_float(t))[1])
    monkeypatch.setattr(paddle.Tensor, "backward",
                        lambda t, *a, **k: (events.append("backward"), backward(t, *a, **k))[1])
    forward = engine.model.forward
    engine.model.forward = lambda images: (events.append("forward"), forward(images))[1]
    loops.train_epoch(engine, 1)
    assert events.count("forward") == events.count("backward") == 6
    # per iteration (split at each forward), the first thing after the forward is backward
    iterations = "".join({"forward": "F", "backward": "B", "fetch": "x"}[e]
                         for e in events).split("F")[1:]
    assert all(it.startswith("B") for it in iterations), iterations


@pytest.mark.distributed
def test_ddp_non_finite_loss_on_one_rank_stops_every_rank(data, tmp_path):
    """Regression (stop together): rank 1 alone saw a NaN loss and raised before backward;
    rank 0 waited in the gradient all-reduce until the launcher killed it (no stop
    message on rank 0 before). Now both stop with the same clear error."""
    ranks, logs, result = _launch("nan", data, tmp_path, timeout=240)
    assert ranks[0] is not None and ranks[1] is not None, logs + result.stderr[-2000:]
    assert "loss became nan" in ranks[1]["stopped"]
    assert ranks[0]["stopped"] and "rank 1" in ranks[0]["stopped"]


PADDLECLAS_CONVNEXT = os.path.join(ROOT, "tests", "data", "paddleclas_ConvNeXt_tiny.yaml")


def test_paddleclas_convnext_config_trains_an_iteration(tmp_path):
    """PaddleClas's own ConvNeXt_tiny config (AMP and EMA blocks as they are, Arch swapped
    to EConvNeXt_tiny) validates and trains: before the fix it stopped at once with
    "unknown key AMP.'use_fp16_test'". Overridden: paths, device, batch size, and
    update_freq 4 -> 1 so that one 224x224 image makes one optimizer step on CPU."""
    root = make_split(str(tmp_path), 1, classes=1, size=(40, 30))
    overrides = ["Global.device=cpu", f"Global.output_dir={tmp_path}/out",
                 "Global.update_freq=1",
                 f"DataLoader.Train.dataset.image_root={root}",
                 f"DataLoader.Train.dataset.cls_label_path={root}/train_list.txt",
                 "DataLoader.Train.sampler.batch_size=1", "DataLoader.Train.loader.num_workers=0",
                 f"DataLoader.Eval.dataset.image_root={root}",
                 f"DataLoader.Eval.dataset.cls_label_path={root}/train_list.txt"]
    engine = Engine(load(PADDLECLAS_CONVNEXT, overrides), "train")
    assert engine.ema is not None and engine.amp_level is None  # use_amp: False
    result = loops.train_epoch(engine, 1)
    assert math.isfinite(result["loss"]) and engine.states["global_step"] == 1
    assert engine.optimizer.get_lr() == pytest.approx(4e-3 / 20)  # warm-up: 1 of 20 steps
