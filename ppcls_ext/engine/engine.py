"""The engine: PaddleClas's ``Engine(config, mode)`` with ``train()``, ``eval()``, ``infer()``.

Setup mirrors PaddleClas's engine (device, seed, logger, model from ``Arch``, loaders,
losses, optimizer, metrics, EMA, AMP, pretrained weights or a resumed checkpoint, data
parallel under ``paddle.distributed.launch``); the per-concern pieces live in sibling
modules and the loops in ``loops.py``.
"""
import os
import random

import numpy as np
import paddle
import paddle.distributed as dist
from ppcls_infer.cli import select_device

from ..io import load_checkpoint, load_ema, load_pretrained, read_weights
from ..outputs import OutputLock, refuse_symlink
from ..registry import build_model
from ..validation import ConfigError, check_slim_config
from .data import build_dataloader
from .losses import build_loss
from .metrics import build_metrics
from .optimizer import build_optimizer
from .recorder import Recorder, logger, parse_log_ranks
from .static import apply_to_static, check_supported
from . import loops


def _seed(seed, offset=0):
    if seed is None or seed is False:
        return
    seed = int(seed) + offset
    random.seed(seed)
    np.random.seed(seed)
    paddle.seed(seed)


class Engine:
    """Train, evaluate or predict with a PaddleClas config, as PaddleClas's ``Engine`` does.

    Args:
        config: the parsed config (``load_config``: a PaddleClas YAML plus ``-o`` overrides,
            validated); its sections ``Global``, ``Arch``, ``DataLoader``, ``Loss``,
            ``Optimizer``, ``Metric``, ``Infer`` and the optional ``EMA``, ``AMP``, ``Slim``
            mean what they mean to PaddleClas. Read, not copied: the engine adds
            ``DataLoader.class_num`` from ``Arch.class_num`` as PaddleClas's does.
        mode: ``"train"``, ``"eval"`` or ``"infer"``; decides which loaders, losses and
            optimizer are built.
        prepare_model: ``prepare_model(config, model, mode)`` wraps the built model in place
            before the weights load (``ppcls_ext.slim.qat.prepare_qat`` for a ``Slim.quant``
            config, which the tools pass) and returns the wrapper's state (``self.quanter``)
            or None; a non-None result means the hook loaded ``Global.pretrained_model``
            itself. The engine does not import slim.

    Set-up, in PaddleClas's order: device (``Global.device``), seeds, logger
    (``<output_dir>/<mode>.log``), model (``build_model`` on ``Arch``, then ``prepare_model``),
    loaders, losses, metrics, optimizer and LR schedule (stepped per iteration), weights
    (``Global.checkpoints`` resumes model, optimizer, EMA and counters; else
    ``Global.pretrained_model`` loads weights only), EMA, AMP, ``Global.to_static``,
    ``paddle.DataParallel`` when launched with several ranks. Checkpoints and curves go to
    ``<Global.output_dir>/<Arch.name>/``.

    Attributes a caller may read: ``model`` (possibly DataParallel), ``base_model`` (the
    network), ``optimizer``, ``lr_scheduler``, ``ema``, ``states`` (``epoch``,
    ``global_step``, ``best_metric``, ``best_epoch``), ``train_loader``, ``eval_loader``.

    Raises:
        ConfigError (a ValueError): a config value this engine cannot honour (the message
            names the key and what is valid), e.g. a ``Slim.quant`` config without
            ``prepare_model``, a loader that yields no batch, labels beyond ``class_num``.
        ValueError: ``mode`` is not train, eval or infer (a caller's bug).
        RuntimeError: ``Global.device: gpu`` on a Paddle built without CUDA.
        WeightsNotFoundError / WeightsFileError (``ppcls_ext.io``): a weights or checkpoint
            path that is missing or unusable, including ``UnsafeCheckpointError`` for a pickle
            that holds more than tensors (docs/training.md, "Loading weights safely").
    """

    def __init__(self, config, mode="train", prepare_model=None):
        if mode not in ("train", "eval", "infer"):
            raise ValueError(f"Engine mode must be train, eval or infer, got {mode!r}")
        self.config, self.mode = config, mode
        g = config["Global"]
        self.epochs = int(g.get("epochs", 1))
        self.output_dir = os.path.join(g.get("output_dir", "./output"), config["Arch"]["name"])
        check_supported(g)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.is_main = self.rank == 0
        # one training per output folder at a time (a second one refuses, naming the first),
        # taken before anything is logged or written; logs never append through a symlink
        self.output_lock = OutputLock(self.output_dir).acquire() \
            if mode == "train" and self.is_main else None
        # {output_dir}/{Arch.name}/{mode}.log, where PaddleClas 2.5 writes it and TIPC reads
        # it (PaddleClas's develop engine moved it up to {output_dir}; TIPC did not follow)
        logger.init_logger(log_file=refuse_symlink(os.path.join(self.output_dir, f"{mode}.log")),
                           log_ranks=parse_log_ranks(g.get("log_ranks", "0")))
        self.device = select_device(g.get("device", "gpu"))
        if self.world_size > 1:
            dist.init_parallel_env()
        # every rank alike until the model is wrapped (PaddleClas): identical initial weights,
        # so each rank's EMA starts from the weights DataParallel broadcasts from rank 0
        _seed(g.get("seed"))

        self.model = build_model(config, mode)
        self.quanter = None
        if prepare_model is not None:  # QAT: PaddleSlim wraps the model, loads pretrained_model
            self.quanter = prepare_model(config, self.model, mode)
        elif check_slim_config(config.get("Slim")):
            raise ConfigError("Slim.quant needs the QAT hook: run tools/train.py (or pass "
                              "Engine(config, mode, prepare_model=ppcls_ext.slim.qat."
                              "prepare_qat))")
        self.class_num = config["Arch"].get("class_num", g.get("class_num"))
        if self.class_num and isinstance(config.get("DataLoader"), dict):
            # PaddleClas's engine hands Arch.class_num to the batch ops the same way.
            config["DataLoader"].setdefault("class_num", self.class_num)
        self.train_loader = self.eval_loader = None
        if mode == "train":
            self.train_loader = self._loader("Train", g.get("seed"))
        if mode == "eval" or (mode == "train" and g.get("eval_during_train", False)):
            self.eval_loader = self._loader("Eval", None)
        self.train_loss = build_loss(config.get("Loss"), "Train") if mode == "train" else None
        self.eval_loss = build_loss(config.get("Loss"), "Eval")
        metric_cfg = config.get("Metric") or {}
        self.eval_metrics = build_metrics(metric_cfg.get("Eval"), "Metric.Eval")
        self.train_metrics = self._train_metrics(metric_cfg.get("Train")) if mode == "train" \
            else []

        self.update_freq = int(g.get("update_freq", 1))  # >= 1: validation.CLASSIFICATION_VALUES
        self.optimizer = self.lr_scheduler = None
        self.step_each_epoch = 0
        if mode == "train":
            if len(self.train_loader) < self.update_freq:
                raise ConfigError(f"Global.update_freq={self.update_freq} exceeds the "
                                 f"{len(self.train_loader)} iterations of an epoch: no "
                                 "optimizer step would run. Lower update_freq or batch_size")
            self.step_each_epoch = len(self.train_loader) // self.update_freq
            self.optimizer, self.lr_scheduler = build_optimizer(
                config.get("Optimizer"), self.epochs, self.step_each_epoch, self.model)
        # best metric starts below any metric (PaddleClas's -1.0): the first evaluation
        # always writes best_model, even at top-1 0
        self.states = dict(epoch=0, global_step=0, best_metric=-1.0, best_epoch=0)
        # order matters (PaddleClas's): fp32 weights into the fp32 model, then the EMA copy
        # of those weights, then AMP's decorate (O2 casts parameters and makes state_dict()
        # return copies), then DataParallel
        self._load_weights(g)
        self.ema = self._build_ema(config.get("EMA"), g) if mode == "train" else None
        self._setup_amp(config.get("AMP"))
        self.model = apply_to_static(g, self.model)
        if self.world_size > 1:
            self.model = paddle.DataParallel(self.model)
        _seed(g.get("seed"), self.rank)  # per-rank dropout/drop-path and augmentation
        self.recorder = Recorder(self.output_dir, g.get("use_visualdl", False), self.is_main)
        self.print_mem_info = bool(g.get("print_mem_info", False)) and mode == "train"
        if self.print_mem_info and self.device != "gpu":
            logger.info("Global.print_mem_info: no GPU in use, so the training lines carry the "
                        "process's peak resident memory (max_mem_rss) instead of the CUDA "
                        "allocator's max_mem_reserved/max_mem_allocated")

    # ----------------------------------------------------------------- setup helpers
    def _loader(self, mode, seed):
        loader = build_dataloader(self.config.get("DataLoader"), mode, seed)
        if self.class_num:
            loader.dataset.check_labels(int(self.class_num))
        if len(loader) == 0:
            raise ConfigError(f"DataLoader.{mode} yields no batch: {len(loader.dataset)} images, "
                             "batch_size too large for drop_last=True?")
        return loader

    def _train_metrics(self, metric_list):
        if metric_list and getattr(self.train_loader.collate_fn, "batch_ops", None):
            # PaddleClas's engine drops them too: mixed soft labels have no single true class
            logger.warning("Metric.Train is not computed: DataLoader.Train has "
                           "batch_transform_ops (Mixup/CutMix), whose labels are mixtures.")
            return []
        return build_metrics(metric_list, "Metric.Train")

    def _setup_amp(self, amp_cfg):
        """PaddleClas's ``AMP`` section. Training: ``auto_cast`` at ``level`` (with
        ``use_promote``) and a GradScaler; O2 decorates model and optimizer. Evaluation runs
        in fp16 when ``use_fp16_test`` is set, and always at O2 (fp16 parameters, as in
        PaddleClas); outside training only the model is decorated (``decorate`` without an
        optimizer returns the model alone)."""
        self.amp_level = self.scaler = None
        self.amp_eval, self.amp_promote = False, False
        if not amp_cfg or not amp_cfg.get("use_amp", True):
            return
        level = str(amp_cfg.get("level", "O1")).upper()
        if level not in ("O1", "O2"):
            raise ConfigError(f"AMP.level must be O1 or O2, got {level!r}")
        self.amp_eval = bool(amp_cfg.get("use_fp16_test", False)) or level == "O2"
        if self.mode != "train" and not self.amp_eval:
            return  # evaluation/inference in fp32 unless AMP.use_fp16_test
        if self.device == "cpu":
            logger.warning("AMP is configured but the device is CPU: running in fp32 "
                           "(AMP needs a GPU).")
            self.amp_eval = False
            return
        self.amp_level = level
        self.amp_promote = bool(amp_cfg.get("use_promote", False))  # PaddleClas's default
        if self.mode == "train":
            self.scaler = paddle.amp.GradScaler(
                init_loss_scaling=float(amp_cfg.get("scale_loss", 65536.0)),
                use_dynamic_loss_scaling=bool(amp_cfg.get("use_dynamic_loss_scaling", True)))
        if level == "O2":
            if self.optimizer is not None:
                self.model, self.optimizer = paddle.amp.decorate(
                    models=self.model, optimizers=self.optimizer, level="O2",
                    save_dtype="float32")
            else:
                self.model = paddle.amp.decorate(models=self.model, level="O2",
                                                 save_dtype="float32")

    def _build_ema(self, ema_cfg, g):
        if not ema_cfg:
            return None
        from .._ppcls import ppcls_module

        ema = ppcls_module("utils.ema").ExponentialMovingAverage(
            self.model, decay=float(ema_cfg.get("decay", 0.9999)))
        if g.get("checkpoints"):
            load_ema(g["checkpoints"], ema, self.model)
        return ema

    def _load_weights(self, g):
        if g.get("checkpoints"):
            self.states.update(load_checkpoint(g["checkpoints"], self.model, self.optimizer))
            logger.info(f"Resumed from {g['checkpoints']} at epoch {self.states['epoch']}, "
                        f"step {self.states['global_step']}")
        elif g.get("pretrained_model") and self.quanter is None:
            # the same rule as export and quantization (ppcls_ext.io.resolve_weights_path):
            # the checkpoint's model weights, or its EMA with Global.use_ema_weights
            action = {"train": "fine-tuning from", "eval": "evaluating",
                      "infer": "predicting with"}[self.mode]
            # only training may drop a classifier of another class count (fine-tuning)
            load_pretrained(self.model, read_weights(
                g["pretrained_model"], bool(g.get("use_ema_weights", False)), action),
                fine_tune=self.mode == "train")

    def autocast(self, training=True):
        """``auto_cast`` for a training step, or for evaluation when it runs in fp16."""
        if self.amp_level is None or not (training or self.amp_eval):
            import contextlib

            return contextlib.nullcontext()
        return paddle.amp.auto_cast(level=self.amp_level, use_promote=self.amp_promote)

    @property
    def base_model(self):
        return self.model._layers if isinstance(self.model, paddle.DataParallel) else self.model

    # ----------------------------------------------------------------- entry points
    def train(self):
        """Train from ``states["epoch"] + 1`` to ``Global.epochs``; evaluate every
        ``Global.eval_interval`` epochs when ``Global.eval_during_train``; save ``latest`` each
        epoch, ``epoch_N`` every ``Global.save_interval`` epochs and ``best_model`` when the eval
        top-1 improves (``loops.train``, after PaddleClas's ``train_epoch``).

        Returns:
            ``states``: ``epoch``, ``global_step`` (optimizer steps), ``best_metric`` (top-1 as
            a fraction in [0, 1]) and ``best_epoch``.
        Raises:
            loops.NonFiniteLossError: the loss became NaN or inf; the last complete checkpoint
                is kept.
        """
        return loops.train(self)

    @paddle.no_grad()
    def eval(self, epoch=0, model=None):
        """Evaluate ``model`` (default: the engine's) on ``DataLoader.Eval``.

        Returns:
            ``{name: value}``: the mean of each ``Loss.Eval`` term over the whole set and each
            ``Metric.Eval`` result (``top1``, ``top5``: fractions in [0, 1]), all-reduced over
            ranks. ``epoch`` only labels the log lines.
        """
        return loops.evaluate(self, epoch, model)

    @paddle.no_grad()
    def infer(self):
        """Classify ``Infer.infer_imgs`` (an image, a folder or a list file) with
        ``Infer.transforms`` and ``Infer.PostProcess`` (Topk) on softmax probabilities.

        Returns:
            one dict per readable image: ``class_ids``, ``scores`` (probabilities),
            ``file_name`` and ``label_names`` when a label map is given; unreadable images are
            skipped with a warning.
        """
        return loops.infer(self)
