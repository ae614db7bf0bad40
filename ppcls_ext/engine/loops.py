"""Training, evaluation and inference loops of the ``Engine``.

Behaviour follows PaddleClas's ``train_epoch`` / ``classification_eval``: the LR scheduler
steps per optimizer step, ``update_freq`` accumulates gradients, ``latest`` is saved each
epoch, ``epoch_N`` every ``save_interval`` epochs, ``best_model`` whenever the eval top-1
improves on the best so far (which starts at -1: the first evaluation is always saved).
A non-finite loss stops training with the last good checkpoint kept.
"""
import contextlib
import math
import os
import time

import paddle
import paddle.distributed as dist

from ppcls_infer.cli import UserError

from ..io import save_checkpoint
from .interrupt import TrainingInterrupted, critical, stop_on_signals
from .recorder import AverageMeter, format_metrics, logger, memory_message, train_line


class NonFiniteLossError(UserError, FloatingPointError):
    """The loss became NaN or inf: training stopped, the last complete checkpoint kept (one
    line from the tools, naming the epoch, iteration and what to change)."""


def _current_lr(engine):
    return float(engine.optimizer.get_lr())


def _save(engine, prefix, epoch):
    if not engine.is_main:
        return
    # The LR scheduler's state is saved inside the optimizer's (``.pdopt``, key LR_Scheduler)
    # and restored by its set_state_dict, as in PaddleClas; _place_schedule re-places it.
    states = dict(engine.states, epoch=epoch, step_each_epoch=engine.step_each_epoch)
    with critical():  # SIGTERM/Ctrl-C wait for the save to complete
        save_checkpoint(engine.output_dir, prefix, engine.base_model, engine.optimizer,
                        engine.ema, states,
                        weights_format=engine.config["Global"].get("save_format", "pdparams"))
    if prefix == "latest":
        engine.last_checkpoint = (os.path.join(engine.output_dir, "latest"), epoch)


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


def _stop_if_non_finite(engine, bad, epoch):
    """Raise on every rank together once any rank has seen a non-finite loss.

    ``bad`` is this rank's first ``(iteration, loss value)`` that was not finite, or None.
    Called at the logging iterations, which every rank reaches at the same step, with one
    scalar all-reduce: a rank raising alone would leave the others waiting in the next
    gradient all-reduce until the launcher kills them."""
    first = engine.rank if bad else engine.world_size
    if engine.world_size > 1:
        flag = paddle.to_tensor([first], dtype="int64")
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        first = int(flag.item())
    if first >= engine.world_size:
        return
    latest = os.path.join(engine.output_dir, "latest")
    kept = f"the last good checkpoint is {latest}.*" if os.path.exists(latest + ".pdstates") \
        else "no checkpoint had been saved yet"
    where = f" on rank {first}" if engine.world_size > 1 else ""
    what = f"loss became {bad[1]}{where} at epoch {epoch}, iteration {bad[0]}" if bad \
        else f"loss became non-finite{where} in epoch {epoch}"
    raise NonFiniteLossError(
        f"{what} (lr {_current_lr(engine):.3g}); training stopped and {kept}. Lower "
        "Optimizer.lr.learning_rate, add warm-up or Optimizer.clip_norm, or check the data.")


def _sync_unless_boundary(model, boundary):
    """``DataParallel.no_sync()`` on micro-steps that end no accumulation: gradients
    all-reduce once per optimizer step instead of once per micro-batch."""
    if boundary or not isinstance(model, paddle.DataParallel):
        return contextlib.nullcontext()
    return model.no_sync()


def _place_schedule(engine, epochs_done):
    """Put the LR schedule (warm-up included) at ``epochs_done x`` the current steps per
    epoch. The saved scheduler state counts steps of the run that wrote it: resumed on
    another number of GPUs or batch size, its step count would meet a warm-up and cosine
    length rebuilt for the new steps per epoch, and Paddle's periodic cosine climbs back
    up past its end. Paddle's schedulers take an absolute step in ``step(epoch)`` and
    compute the LR in closed form there."""
    engine.states.pop("lr_scheduler", None)  # written by earlier versions, never read
    saved = engine.states.pop("step_each_epoch", None)
    if saved and int(saved) != engine.step_each_epoch:
        logger.info(f"Resuming with {engine.step_each_epoch} steps per epoch (the checkpoint "
                    f"had {saved}): LR schedule placed at epoch {epochs_done}")
    if epochs_done > 0:
        engine.lr_scheduler.step(epochs_done * engine.step_each_epoch)


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
    # whole optimizer steps only (PaddleClas trims likewise): a leftover micro-batch's
    # gradient would otherwise be added into the next epoch's first step
    iters -= iters % engine.update_freq
    bad = None
    tic = time.time()
    for it, (images, labels) in enumerate(loader):
        if it >= iters:
            break
        reader_time.update(time.time() - tic)
        boundary = (it + 1) % engine.update_freq == 0
        with _sync_unless_boundary(model, boundary):
            with engine.autocast():
                logits = model(images)
            losses = engine.train_loss(logits.astype("float32"), labels)
            loss = losses["loss"] / engine.update_freq
            (engine.scaler.scale(loss) if engine.scaler is not None else loss).backward()
        if boundary:
            _step(engine)
        # the step's one host sync, after it (PaddleClas fetches the meters' values likewise);
        # finiteness is judged on the fetched value
        values = {key: float(value) for key, value in losses.items()}
        if bad is None and not math.isfinite(values["loss"]):
            bad = (it, values["loss"])
        for key, value in values.items():
            meters.setdefault(key, AverageMeter(key)).update(value, images.shape[0])
        for metric in engine.train_metrics:  # Metric.Train, as PaddleClas logs it
            metric.update(logits, labels)
        batch_time.update(time.time() - tic)
        at_log = it % print_step == 0 or it == iters - 1
        if at_log or (bad and engine.world_size == 1):  # alone, stop at once
            _stop_if_non_finite(engine, bad, epoch)
        if at_log:
            remaining = (engine.epochs - epoch) * iters + iters - it - 1
            logger.info(train_line(epoch, engine.epochs, it, iters, _current_lr(engine),
                                   dict({k: m.val for k, m in meters.items()},
                                        **_train_accuracy(engine)), batch_time.avg,
                                   reader_time.avg, images.shape[0],
                                   remaining * batch_time.avg,
                                   memory_message(engine.device)
                                   if getattr(engine, "print_mem_info", False) else ""))
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
    """Train from the resumed epoch to ``Global.epochs``. SIGTERM/Ctrl-C raise
    ``TrainingInterrupted`` whose one-line message names the last complete checkpoint."""
    try:
        with stop_on_signals():
            return _train(engine)
    except TrainingInterrupted as exc:
        raise TrainingInterrupted(exc.signum, _interrupted_message(engine, exc.signum)) \
            from None


def _interrupted_message(engine, signum):
    import signal

    name = signal.Signals(signum).name
    last = getattr(engine, "last_checkpoint", None)
    if last is None and engine.config["Global"].get("checkpoints"):
        last = (engine.config["Global"]["checkpoints"], engine.states.get("epoch"))
    where = f"the last complete checkpoint is {last[0]} (epoch {last[1]}); resume with " \
        f"-o Global.checkpoints={last[0]}" if last else "no checkpoint had been saved yet"
    epoch = getattr(engine, "current_epoch", engine.states["epoch"] + 1)
    return f"training stopped by {name} in epoch {epoch}; {where}"


def _train(engine):
    g = engine.config["Global"]
    save_interval = int(g.get("save_interval", 1))
    eval_interval = int(g.get("eval_interval", 1))
    start_eval = int(g.get("start_eval_epoch", 0))
    start = int(engine.states["epoch"]) + 1
    if start > engine.epochs:  # PaddleClas's loop runs no epoch here, silently
        logger.warning(f"Nothing to train: the checkpoint {g.get('checkpoints')} is at epoch "
                       f"{start - 1} and Global.epochs is {engine.epochs}; raise "
                       "Global.epochs to train further. Checkpoints are left as they are.")
    _place_schedule(engine, start - 1)
    if start > 1:  # resumed: history.json and curves.png go on from the checkpoint's epoch
        engine.recorder.resume(start - 1)
    for epoch in range(start, engine.epochs + 1):
        engine.current_epoch = epoch
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
    if getattr(engine, "output_lock", None) is not None:
        engine.output_lock.release()
    return engine.states


def _reduce_means(engine, meters):
    """Loss averages over the whole validation set: sums and counts all-reduced over ranks
    as ``TopkAcc`` does with its counts."""
    if engine.world_size == 1 or not meters:
        return {k: m.avg for k, m in meters.items()}
    totals = paddle.to_tensor([[m.sum, m.count] for m in meters.values()], dtype="float64")
    dist.all_reduce(totals)
    return {k: s / max(c, 1.0) for k, (s, c) in zip(meters, totals.numpy().tolist())}


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
        with engine.autocast(training=False):
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
    result = _reduce_means(engine, meters)
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

    with engine.autocast(training=False):  # fp16 under AMP O2 or use_fp16_test
        return run_inference(engine.config, engine.model)
