"""Numeric values of a PaddleDetection config: type and range of each key ppdet's ``Trainer``,
readers and optimizer builder read (``ppdet/engine/trainer.py``, ``ppdet/data/reader.py``,
``ppdet/optimizer/optimizer.py`` of release/2.6), in the same table style as the
classification one (``ppcls_ext.validation.CLASSIFICATION_VALUES``) and checked by the same
``check_values``: once, after ``-o`` is merged, before anything is built.

PaddleDetection itself takes ``epoch: 0`` and trains nothing (``range(start_epoch, epoch)``)
fails with a traceback on ``batch_size: 0`` (an assertion of Paddle's ``BatchSampler``) or
``snapshot_epoch: 0`` (``(epoch_id + 1) % snapshot_epoch``, a ZeroDivisionError once the
first epoch is trained).
"""
from ..validation import Number, check_values, fraction, non_negative, positive, positive_int

DETECTION_VALUES = {
    "epoch": positive_int("training epochs; 0 would train nothing"),
    "snapshot_epoch": positive_int("epochs between checkpoints and --eval evaluations"),
    "log_iter": positive_int("iterations between log lines"),
    "num_classes": positive_int("object classes"),
    "worker_num": Number(int, minimum=0, meaning="loader processes; 0 loads in the training "
                         "process"),
    **{f"{reader}.batch_size": positive_int("images per device")
       for reader in ("TrainReader", "EvalReader", "TestReader")},
    "LearningRate.base_lr": positive("the base learning rate"),
    "LearningRate.schedulers.*.start_factor": Number(float, minimum=0, maximum=1,
                                                     meaning="warm-up start, x base_lr"),
    "LearningRate.schedulers.*.steps": Number(int, minimum=0, meaning="warm-up iterations"),
    "LearningRate.schedulers.*.max_epochs": positive_int("epochs of the cosine decay"),
    "ema_decay": fraction("weight of the running average per step"),
    "OptimizerBuilder.clip_grad_by_norm": positive("global gradient norm", nullable=True),
    "OptimizerBuilder.regularizer.factor": non_negative("L2 weight decay"),
    "OptimizerBuilder.optimizer.weight_decay": non_negative("decoupled weight decay"),
    "OptimizerBuilder.optimizer.momentum": fraction(),
}


def check_det_values(cfg, config_path, overrides=()):
    """``check_values`` with the detection table; a value from the files is blamed on
    ``config_path`` and its ``_BASE_`` files."""
    return check_values(cfg, DETECTION_VALUES, f"{config_path} (or its _BASE_ files)",
                        overrides)
