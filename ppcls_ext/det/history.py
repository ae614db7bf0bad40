"""COCO mAP per epoch of a PaddleDetection training: a JSON history and its plot.

PaddleDetection's Trainer logs each evaluation's COCO table but keeps no record of it (its
``Checkpointer`` callback only remembers the best AP). ``EvalHistory`` is a ppdet
``Callback`` that appends, after every evaluation inside ``train(validate=True)``, the epoch,
mAP@0.5:0.95, mAP@0.5, the epoch's training images/s, the wall time since training started,
the process CPU time (user + system, all threads) since then and the 1-minute load average to ``<save_dir>/<config name>/history.json`` (rewritten atomically
each time). ``plot_history`` draws it (matplotlib, no display).
"""
import json
import os
import time

from .ppdet_import import import_ppdet

import_ppdet()  # before any ppdet name: its import flips PIL's truncated-image flag
from ppdet.engine.callbacks import Callback  # noqa: E402

from ..outputs import atomic_write, write_json
from ..validation import DataError


class EvalHistory(Callback):
    def __init__(self, trainer, path):
        super().__init__(trainer)
        self.path = path
        self.records = []
        self._start = self._tic = time.time()
        self._cpu_start = time.process_time()
        self._images = 0
        self._ips = None

    def on_train_begin(self, status):
        self._start, self._cpu_start = time.time(), time.process_time()

    def on_epoch_begin(self, status):
        if status.get("mode") == "train":
            self._tic, self._images = time.time(), 0

    def on_step_end(self, status):
        if status.get("mode") == "train":
            self._images += int(self.model.cfg.TrainReader["batch_size"])

    def on_epoch_end(self, status):
        mode = status.get("mode")
        if mode == "train":
            self._ips = self._images / max(time.time() - self._tic, 1e-9)
        elif mode == "eval" and self.model._metrics:
            # ppdet's COCOMetric leaves no "bbox" result when nothing was detected (an
            # untrained model): that evaluation's mAP is 0
            stats = self.model._metrics[0].get_results().get("bbox")
            if stats is None or len(stats) < 2:
                stats = [0.0, 0.0]
            self.records.append({"epoch": int(status["epoch_id"]) + 1,
                                 "mAP": round(float(stats[0]), 4),
                                 "mAP50": round(float(stats[1]), 4),
                                 "train_images_per_s": round(self._ips or 0.0, 3),
                                 "wall_s": round(time.time() - self._start, 1),
                                 # on a shared machine CPU time, not wall time, is the cost
                                 "cpu_s": round(time.process_time() - self._cpu_start, 1),
                                 "load1": round(os.getloadavg()[0], 2)})
            # a fresh temporary replaced over the file: never written through a symlink
            write_json(self.path, self.records, indent=1)


def attach(trainer, save_dir):
    """Register an ``EvalHistory`` writing ``save_dir/<config name>/history.json``."""
    name = os.path.splitext(os.path.basename(trainer.cfg.filename))[0]
    callback = EvalHistory(trainer, os.path.join(save_dir, name, "history.json"))
    trainer.register_callbacks([callback])
    return callback


def plot_history(history_json, png, title=None):
    """mAP@0.5 and mAP@0.5:0.95 per epoch of a history.json -> PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_json) as f:
        records = json.load(f)
    if not records:
        raise DataError(f"{history_json} holds no evaluation (train with --eval)")
    epochs = [r["epoch"] for r in records]
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.plot(epochs, [r["mAP50"] for r in records], "o-", label="mAP@0.5")
    ax.plot(epochs, [r["mAP"] for r in records], "s-", label="mAP@0.5:0.95")
    ax.set_xlabel("epoch")
    ax.set_ylabel("COCO mAP (val scenes)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    try:
        atomic_write(png, writer=lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return png
