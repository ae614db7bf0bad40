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

from ..io import load_checkpoint, load_ema, load_pretrained
from ..registry import build_model
from ..slim.qat import prepare_qat
from .data import build_dataloader
from .losses import build_loss
from .metrics import build_metrics
from .optimizer import build_optimizer
from .recorder import Recorder, logger
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
    def __init__(self, config, mode="train"):
        if mode not in ("train", "eval", "infer"):
            raise ValueError(f"Engine mode must be train, eval or infer, got {mode!r}")
        self.config, self.mode = config, mode
        g = config["Global"]
        self.epochs = int(g.get("epochs", 1))
        self.output_dir = os.path.join(g.get("output_dir", "./output"), config["Arch"]["name"])
        check_supported(g)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.is_main = self.rank == 0
        logger.init_logger(log_file=os.path.join(g.get("output_dir", "./output"), f"{mode}.log"))
        self.device = select_device(g.get("device", "gpu"))
        if self.world_size > 1:
            dist.init_parallel_env()
        # every rank alike until the model is wrapped (PaddleClas): identical initial weights,
        # so each rank's EMA starts from the weights DataParallel broadcasts from rank 0
        _seed(g.get("seed"))

        self.model = build_model(config, mode)
        self.quanter = None
        if config.get("Slim"):  # QAT: PaddleSlim wraps the model; loads pretrained_model itself
            self.quanter = prepare_qat(config, self.model, mode)
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

        self.update_freq = int(g.get("update_freq", 1))
        if self.update_freq < 1:
            raise ValueError(f"Global.update_freq must be >= 1, got {self.update_freq}")
        self.optimizer = self.lr_scheduler = None
        self.step_each_epoch = 0
        if mode == "train":
            if len(self.train_loader) < self.update_freq:
                raise ValueError(f"Global.update_freq={self.update_freq} exceeds the "
                                 f"{len(self.train_loader)} iterations of an epoch: no "
                                 "optimizer step would run. Lower update_freq or batch_size")
            self.step_each_epoch = len(self.train_loader) // self.update_freq
            self.optimizer, self.lr_scheduler = build_optimizer(
                config.get("Optimizer"), self.epochs, self.step_each_epoch, self.model)
        self.states = dict(epoch=0, global_step=0, best_metric=0.0, best_epoch=0)
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

    # ----------------------------------------------------------------- setup helpers
    def _loader(self, mode, seed):
        loader = build_dataloader(self.config.get("DataLoader"), mode, seed)
        if self.class_num:
            loader.dataset.check_labels(int(self.class_num))
        if len(loader) == 0:
            raise ValueError(f"DataLoader.{mode} yields no batch: {len(loader.dataset)} images, "
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
            raise ValueError(f"AMP.level must be O1 or O2, got {level!r}")
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
            load_pretrained(self.model, g["pretrained_model"])

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
        return loops.train(self)

    @paddle.no_grad()
    def eval(self, epoch=0, model=None):
        return loops.evaluate(self, epoch, model)

    @paddle.no_grad()
    def infer(self):
        return loops.infer(self)
