"""Run by tests/test_engine_gpu_paths.py under the gloo 2-process launch; not a test itself.

    python -m paddle.distributed.launch --nproc_per_node 2 tests/dist_probe.py MODE OUT_DIR \
        OVERRIDE...

``train``: builds the Engine (EMA on), trains one epoch and evaluates, recording per rank
what must agree across ranks (EMA weights, evaluation) and what must not (gradients of a
micro-step that is not an accumulation boundary, under ``no_sync``). ``nan``: rank 1 alone
sees a non-finite loss; records how each rank stopped. Writes OUT_DIR/rank{N}.json.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import paddle  # noqa: E402

from engine_helpers import QUICK_START, load  # noqa: E402
from ppcls_ext.engine import Engine, loops  # noqa: E402


def _sum(layer):
    """Sum of |trainable parameters| (BatchNorm statistics are per rank by design)."""
    return float(sum(p.astype("float64").abs().sum() for p in layer.parameters()
                     if not p.stop_gradient))


def probe_train(engine):
    out = dict(ema_sum=_sum(engine.ema.module), model_sum=_sum(engine.base_model))
    grads = out["grad_at_forward"] = []
    forward = engine.base_model.forward

    def recording_forward(*args, **kwargs):  # the gradient so far, as the next step starts
        if engine.base_model.training:
            found = [p.grad for p in engine.base_model.parameters() if p.grad is not None]
            grads.append(float(found[0].abs().sum()) if found else None)
        return forward(*args, **kwargs)
    engine.base_model.forward = recording_forward
    loops.train_epoch(engine, 1)
    out["iterations"] = len(grads)
    out["eval"] = loops.evaluate(engine, 1)
    out["ema_sum_after"] = _sum(engine.ema.module)
    out["model_sum_after"] = _sum(engine.base_model)
    return out


def probe_nan(engine):
    forward = engine.train_loss.forward

    def nan_on_rank1(logits, labels):
        losses = forward(logits, labels)
        if engine.rank == 1 and engine.states["global_step"] >= 1:
            losses["loss"] = losses["loss"] * float("nan")
        return losses
    engine.train_loss.forward = nan_on_rank1
    try:
        engine.train()
    except loops.NonFiniteLossError as exc:
        return dict(stopped=str(exc))
    return dict(stopped=None)


if __name__ == "__main__":
    mode, out_dir, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
    engine = Engine(load(QUICK_START, overrides), "train")
    result = dict(train=probe_train, nan=probe_nan)[mode](engine)
    with open(os.path.join(out_dir, f"rank{engine.rank}.json"), "w") as f:
        json.dump(result, f)
