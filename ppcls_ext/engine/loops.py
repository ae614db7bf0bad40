"""Training, evaluation and inference loops of the ``Engine``.

Behaviour follows PaddleClas's ``train_epoch`` / ``classification_eval``: the LR scheduler
steps per optimizer step, ``update_freq`` accumulates gradients, ``latest`` is saved each
epoch, ``epoch_N`` every ``save_interval`` epochs, ``best_model`` whenever the eval top-1
improves. A non-finite loss stops training with the last good checkpoint kept.
"""
import math
import os
import time

import paddle

from .checkpoint import save_checkpoint
from .recorder import AverageMeter, format_metrics, logger, train_line


class NonFiniteLossError(FloatingPointError):
    pass


def _current_lr(engine):
    return float(engine.optimizer.get_lr())


def _save(engine, prefix, epoch):
    if not engine.is_main:
        return
    states = dict(engine.states, epoch=epoch, lr_scheduler=engine.lr_scheduler.state_dict())
    save_checkpoint(engine.output_dir, prefix, engine.base_model, engine.optimizer,
                    engine.ema, states,
                    weights_format=engine.config["Global"].get("save_format", "pdparams"))


def _step(engine):
    if engine.scaler is not None:
        engine.scaler.step(engine.optimizer)
        engine.scaler.update()
    else:
        engine.optimizer.step()
    engine.optimizer.clear_grad()
    engine.lr_scheduler.step()
    engine.states["global_step"] += 1
    if engine.ema is not None:
        engine.ema.update(engine.base_model)


def _check_finite(engine, loss, epoch, it):
    if not math.isfinite(float(loss)):
        latest = os.path.join(engine.output_dir, "latest")
        kept = f"the last good checkpoint is {latest}.*" if os.path.exists(latest + ".pdstates") \
            else "no checkpoint had been saved yet"
        raise NonFiniteLossError(
            f"loss became {float(loss)} at epoch {epoch}, iteration {it} (lr "
            f"{_current_lr(engine):.3g}); training stopped and {kept}. Lower "
            "Optimizer.lr.learning_rate, add warm-up or Optimizer.clip_norm, or check the data.")


def train_epoch(engine, epoch):
    model, loader = engine.model, engine.train_loader
    model.train()
    if hasattr(loader.batch_sampler, "set_epoch"):
        loader.batch_sampler.set_epoch(epoch)
    meters = {}
    for metric in engine.train_metrics:
        metric.reset()
    batch_time, reader_time = AverageMeter("batch_cost"), AverageMeter("reader_cost")
    iters, print_step = len(loader), int(engine.config["Global"].get("print_batch_step", 10))
    tic = time.time()
    for it, (images, labels) in enumerate(loader):
        reader_time.update(time.time() - tic)
        with engine.autocast():
            logits = model(images)
        losses = engine.train_loss(logits.astype("float32"), labels)
        _check_finite(engine, losses["loss"], epoch, it)
        loss = losses["loss"] / engine.update_freq
        (engine.scaler.scale(loss) if engine.scaler is not None else loss).backward()
        if (it + 1) % engine.update_freq == 0:
            _step(engine)
        for key, value in losses.items():
            meters.setdefault(key, AverageMeter(key)).update(float(value), images.shape[0])
        for metric in engine.train_metrics:  # Metric.Train, as PaddleClas logs it
            metric.update(logits, labels)
        batch_time.update(time.time() - tic)
        if it % print_step == 0 or it == iters - 1:
            remaining = (engine.epochs - epoch) * iters + iters - it - 1
            logger.info(train_line(epoch, engine.epochs, it, iters, _current_lr(engine),
                                   dict({k: m.val for k, m in meters.items()},
                                        **_train_accuracy(engine)), batch_time.avg,
                                   reader_time.avg, images.shape[0],
                                   remaining * batch_time.avg))
            engine.recorder.scalars("train", {k: m.val for k, m in meters.items()},
                                    engine.states["global_step"])
        tic = time.time()
    averages = dict({k: m.avg for k, m in meters.items()}, **_train_accuracy(engine))
    logger.info(f"[Train][Epoch {epoch}/{engine.epochs}][Avg]{format_metrics(averages)}")
    return averages


def _train_accuracy(engine):
    out = {}
    for metric in engine.train_metrics:
        out.update(metric.accumulate(all_ranks=False))
    return out


def train(engine):
    g = engine.config["Global"]
    save_interval = int(g.get("save_interval", 1))
    eval_interval = int(g.get("eval_interval", 1))
    start_eval = int(g.get("start_eval_epoch", 0))
    start = int(engine.states["epoch"]) + 1
    if engine.states.get("lr_scheduler"):
        engine.lr_scheduler.set_state_dict(engine.states.pop("lr_scheduler"))
    for epoch in range(start, engine.epochs + 1):
        train_avg = train_epoch(engine, epoch)
        engine.states["epoch"] = epoch
        eval_result = {}
        if engine.eval_loader is not None and epoch % eval_interval == 0 and epoch > start_eval:
            eval_result = evaluate(engine, epoch)
            if eval_result.get("top1", -1.0) > engine.states["best_metric"]:
                engine.states.update(best_metric=eval_result["top1"], best_epoch=epoch)
                _save(engine, "best_model", epoch)
            logger.info(f"[Eval][Epoch {epoch}][best metric: {engine.states['best_metric']:.5f}"
                        f" at epoch {engine.states['best_epoch']}]")
            if engine.ema is not None:
                evaluate(engine, epoch, engine.ema.module, tag="[EMA]")
        if save_interval > 0 and epoch % save_interval == 0:
            _save(engine, f"epoch_{epoch}", epoch)
        _save(engine, "latest", epoch)
        engine.recorder.epoch(epoch, train_avg, eval_result)
    plot = engine.recorder.plot()
    if plot:
        logger.info(f"Training curves written to {plot}")
    engine.recorder.close()
    return engine.states


@paddle.no_grad()
def evaluate(engine, epoch=0, model=None, tag=""):
    model = model or engine.model
    was_training = model.training
    model.eval()
    meters = {}
    for metric in engine.eval_metrics:
        metric.reset()
    loader = engine.eval_loader
    print_step = int(engine.config["Global"].get("print_batch_step", 10))
    for it, (images, labels) in enumerate(loader):
        with engine.autocast():
            logits = model(images)
        logits = logits.astype("float32")
        if engine.eval_loss is not None:
            for key, value in engine.eval_loss(logits, labels).items():
                meters.setdefault(key, AverageMeter(key)).update(float(value), images.shape[0])
        for metric in engine.eval_metrics:
            metric.update(logits, labels)
        if it % print_step == 0:
            logger.info(f"[Eval]{tag}[Epoch {epoch}][Iter: {it}/{len(loader)}]"
                        f"{format_metrics({k: m.val for k, m in meters.items()})}")
    result = {k: m.avg for k, m in meters.items()}
    for metric in engine.eval_metrics:
        result.update(metric.accumulate())
    logger.info(f"[Eval]{tag}[Epoch {epoch}][Avg]{format_metrics(result)}")
    engine.recorder.scalars("eval" + ("_ema" if tag else ""), result, epoch)
    if was_training:
        model.train()
    return result


@paddle.no_grad()
def infer(engine):
    """PaddleClas's ``Infer`` section: images -> transforms -> model -> PostProcess (Topk)."""
    from .infer import run_inference

    return run_inference(engine.config, engine.model)
