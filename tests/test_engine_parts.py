"""Engine parts: config validation, losses, LR schedules, optimizers, metrics, checkpoints."""
import os

import numpy as np
import paddle
import pytest

from PIL import Image

from engine_helpers import QUICK_START, ROOT, load
from ppcls_ext.engine import ConfigError, validate_config
from ppcls_ext.io import load_checkpoint, save_checkpoint
from ppcls_infer.cli import DeviceError, select_device
from ppcls_ext.engine.losses import CELoss, build_loss
from ppcls_ext.engine.lr import build_lr
from ppcls_ext.engine.metrics import TopkAcc
from ppcls_ext.engine.optimizer import build_optimizer


def test_unknown_keys_are_named_with_file_and_suggestion():
    with pytest.raises(ConfigError, match=r"cfg.yaml: unknown key 'Optimiser' at the top "
                                          r"level \(did you mean 'Optimizer'\?\); valid keys: AMP"):
        validate_config({"Global": {}, "Arch": {"name": "x"}, "Optimiser": {}}, "cfg.yaml")
    with pytest.raises(ConfigError, match=r"cfg.yaml: unknown key 'epoch' in Global "
                                          r"\(did you mean 'epochs'\?\); valid keys: "):
        validate_config({"Global": {"epoch": 3}, "Arch": {"name": "x"}}, "cfg.yaml")
    with pytest.raises(ConfigError, match="'Arch' is missing"):
        validate_config({"Global": {}}, "cfg.yaml")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load("nope.yaml")


def test_shipped_configs_validate():
    from engine_helpers import IMAGENET

    for path in [QUICK_START, *IMAGENET.values()]:
        config = load(path)
        assert config["Global"]["device"] == "gpu"
        if path != QUICK_START:  # its images come from tools/prepare_digits.py
            demo = os.path.join(ROOT, config["Infer"]["infer_imgs"])
            assert Image.open(demo).size == (256, 192), demo
    mini = load(IMAGENET["mini"])
    assert mini["Optimizer"]["lr"]["learning_rate"] == 2.5e-4
    assert mini["Global"]["epochs"] == 300 and mini["Optimizer"]["lr"]["warmup_epoch"] == 20


def test_gpu_request_on_cpu_build_fails_clearly():
    if paddle.device.is_compiled_with_cuda():
        pytest.skip("this Paddle has CUDA")
    with pytest.raises(DeviceError, match="CPU build.*-o Global.device=cpu"):
        select_device("gpu")
    with pytest.raises(DeviceError, match="CPU build.*-o use_gpu=false"):
        select_device("gpu", option="use_gpu")
    with pytest.raises(ValueError, match="not valid"):
        select_device("tpu")
    assert select_device("cpu") == "cpu"


def test_celoss_label_smoothing_and_soft_targets():
    logits = paddle.to_tensor([[2.0, 0.0, -1.0]])
    logp = paddle.nn.functional.log_softmax(logits).numpy()[0]
    hard = float(CELoss(epsilon=0.1)(logits, paddle.to_tensor([[0]]))["CELoss"])
    target = np.array([0.9, 0.0, 0.0]) + 0.1 / 3
    assert hard == pytest.approx(-(target * logp).sum(), rel=1e-5)
    soft = paddle.to_tensor([[0.3, 0.7, 0.0]])
    assert float(CELoss()(logits, soft)["CELoss"]) == pytest.approx(
        -(np.array([0.3, 0.7, 0]) * logp).sum(), rel=1e-5)
    combined = build_loss({"Train": [{"CELoss": {"weight": 0.5}}]})
    out = combined(logits, paddle.to_tensor([[0]]))
    assert float(out["loss"]) == pytest.approx(0.5 * -logp[0], rel=1e-5)
    with pytest.raises(ValueError, match="weight"):
        build_loss({"Train": [{"CELoss": {}}]})


def _lrs(scheduler, n):
    out = []
    for _ in range(n):
        out.append(scheduler.get_lr())
        scheduler.step()
    return out


def test_cosine_warmup_per_iteration():
    sched = build_lr({"name": "Cosine", "learning_rate": 1.0, "eta_min": 0.1,
                      "warmup_epoch": 2, "warmup_start_lr": 0.0}, epochs=6, step_each_epoch=5)
    lrs = _lrs(sched, 30)
    np.testing.assert_allclose(lrs[:10], np.arange(10) / 10, atol=1e-9)  # linear warm-up
    assert lrs[10] == pytest.approx(1.0)
    mid = 10 + 10  # halfway through the 20 cosine steps
    assert lrs[mid] == pytest.approx(0.1 + 0.9 * 0.5, abs=1e-9)
    assert lrs[-1] < 0.11 and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


def test_piecewise_and_bad_schedules(ppcls_warnings):
    sched = build_lr({"name": "Piecewise", "decay_epochs": [1, 2], "values": [1.0, 0.1, 0.01]},
                     epochs=3, step_each_epoch=2)
    assert _lrs(sched, 6) == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])
    with pytest.raises(ValueError, match="valid ops: Cosine"):
        build_lr({"name": "Cosinus", "learning_rate": 1.0}, 3, 2)
    # a warm-up not shorter than the run (PaddleClas clamps it): warm-up over all 6 steps
    sched = build_lr({"name": "Cosine", "learning_rate": 1.0, "warmup_epoch": 5}, 3, 2)
    assert _lrs(sched, 7) == pytest.approx([0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0])
    assert ppcls_warnings == ["Optimizer.lr.warmup_epoch (5) is not shorter than Global.epochs "
                              "(3): warming up over all 3 epoch(s)."]


def test_adamw_skips_decay_on_one_dim_params_and_named():
    model = paddle.nn.Sequential(paddle.nn.Linear(4, 4), paddle.nn.BatchNorm1D(4),
                                 paddle.nn.Linear(4, 2))
    cfg = {"name": "AdamW", "weight_decay": 0.05, "one_dim_param_no_weight_decay": True,
           "no_weight_decay_name": "2.", "lr": {"name": "Cosine", "learning_rate": 1e-3}}
    opt, _ = build_optimizer(cfg, 2, 3, model)
    decay = {p.name for p in model.parameters() if opt._apply_decay_param_fun(p.name)}
    assert decay == {model[0].weight.name}
    with pytest.raises(ValueError, match="Optimizer.lr is required"):
        build_optimizer({"name": "AdamW"}, 2, 3, model)
    with pytest.raises(ValueError, match=r"unknown key 'beta' in Optimizer \(op AdamW\) "
                                         r"\(did you mean 'beta[12]'\?\)"):
        build_optimizer(dict(cfg, beta=0.9), 2, 3, model)


@pytest.mark.parametrize("name, keys, paddle_type", [
    ("SGD", {}, "SGD"),
    ("Adam", {"beta1": 0.8, "epsilon": 1e-7}, "Adam"),
    ("RMSProp", {"rho": 0.9, "momentum": 0.5, "epsilon": 1e-6}, "RMSProp"),
])
def test_paddleclas_sgd_adam_rmsprop_train_with_their_l2(name, keys, paddle_type):
    """PaddleClas's other optimizers: Paddle's own, L2 from ``regularizer`` on every parameter
    but the ones excluded by name (the same rule as Momentum)."""
    paddle.seed(0)
    model = paddle.nn.Sequential(paddle.nn.Linear(4, 4), paddle.nn.Linear(4, 2))
    cfg = {"name": name, "regularizer": {"name": "L2", "coeff": 0.5},
           "no_weight_decay_name": "1.", "lr": {"name": "Cosine", "learning_rate": 0.1},
           **keys}
    opt, _ = build_optimizer(cfg, 2, 3, model)
    assert type(opt).__name__ == paddle_type
    groups = opt._param_groups
    assert [g["weight_decay"] for g in groups][1] == 0.0  # the excluded layer "1."
    assert {p.name for p in groups[1]["params"]} == {p.name for p in model[1].parameters()}
    before = model[0].weight.numpy().copy()
    model(paddle.ones([2, 4])).sum().backward()
    opt.step()
    assert not np.allclose(before, model[0].weight.numpy())
    with pytest.raises(ValueError, match="RMSProp, SGD|SGD.*RMSProp|valid"):
        build_optimizer(dict(cfg, name="Lamb"), 2, 3, model)


def test_topk_acc_counts_samples():
    metric = TopkAcc(topk=[1, 2])
    metric.update(paddle.to_tensor([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05]]),
                  paddle.to_tensor([[1], [1]]))
    metric.update(paddle.to_tensor([[0.2, 0.3, 0.5]]), paddle.to_tensor([[0]]))
    acc = metric.accumulate()
    assert acc["top1"] == pytest.approx(1 / 3) and acc["top2"] == pytest.approx(2 / 3)


def test_checkpoint_roundtrip_and_interrupted_save_keeps_previous(tmp_path, monkeypatch):
    model = paddle.nn.Linear(3, 2)
    opt = paddle.optimizer.AdamW(0.1, parameters=model.parameters())
    model(paddle.ones([1, 3])).sum().backward()
    opt.step()
    save_checkpoint(str(tmp_path), "latest", model, opt, states={"epoch": 1})
    before = model.weight.numpy().copy()
    opt.step()
    real_save = paddle.save
    calls = []

    def dying_save(obj, path, *a, **k):  # the process "dies" while writing the optimizer
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(paddle, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(str(tmp_path), "latest", model, opt, states={"epoch": 2})
    monkeypatch.setattr(paddle, "save", real_save)
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]
    fresh = paddle.nn.Linear(3, 2)
    fresh_opt = paddle.optimizer.AdamW(0.1, parameters=fresh.parameters())
    states = load_checkpoint(str(tmp_path / "latest"), fresh, fresh_opt)
    assert states["epoch"] == 1
    np.testing.assert_array_equal(fresh.weight.numpy(), before)


def test_missing_and_corrupt_checkpoints(tmp_path):
    model = paddle.nn.Linear(3, 2)
    with pytest.raises(FileNotFoundError, match="missing.*latest.pdparams"):
        load_checkpoint(str(tmp_path / "latest"), model)
    (tmp_path / "bad.pdparams").write_bytes(b"\x00junk")
    (tmp_path / "bad.pdstates").write_bytes(b"\x00junk")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(str(tmp_path / "bad"), model)


def test_recorder_resume_keeps_the_history_up_to_the_checkpoint(tmp_path, ppcls_warnings):
    import json

    from ppcls_ext.engine.recorder import Recorder

    first = Recorder(str(tmp_path))
    for epoch in (1, 2, 3, 4):  # a run killed after epoch 4, resumed from epoch 2's checkpoint
        first.epoch(epoch, {"loss": 1.0 / epoch}, {"top1": 0.1 * epoch})
    again = Recorder(str(tmp_path))
    assert again.resume(2) == 2
    again.epoch(3, {"loss": 0.2}, {"top1": 0.5})
    with open(tmp_path / "history.json") as f:
        history = json.load(f)
    assert [(h["epoch"], h["eval"]["top1"]) for h in history] == [(1, 0.1), (2, 0.2), (3, 0.5)]
    assert again.plot() == str(tmp_path / "curves.png")
    (tmp_path / "history.json").write_text("{not json")
    broken = Recorder(str(tmp_path))
    assert broken.resume(2) == 0 and broken.history == []
    assert any("history.json is not a readable history" in m for m in ppcls_warnings)
