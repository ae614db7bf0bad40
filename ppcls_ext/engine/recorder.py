"""Training records: PaddleClas-format log lines, VisualDL scalars, the curves PNG.

Log lines keep PaddleClas's shape so that its log parsers keep working, e.g.
``[Train][Epoch 1/300][Iter: 10/5004]lr: 0.00000012, CELoss: 6.90123, loss: 6.90123,
batch_cost: 0.41234s, reader_cost: 0.00123s, ips: 155.21 samples/s, eta: 1 day, 2:36:47``
and ``[Eval][Epoch 1][Avg]CELoss: 6.9, loss: 6.9, top1: 0.00100, top5: 0.00500``.
"""
import datetime
import json
import os
import resource

from .._ppcls import ppcls_module
from ..outputs import atomic_write, refuse_symlink, write_json
from ..validation import ConfigError

logger = ppcls_module("utils.logger")
AverageMeter = ppcls_module("utils.misc").AverageMeter


def format_metrics(values):
    return ", ".join(f"{k}: {v:.5f}" for k, v in values.items())


def train_line(epoch, epochs, it, iters, lr, losses, batch_cost, reader_cost, batch_size,
               eta_seconds, memory=""):
    """One training log line; ``memory`` is ``memory_message()``'s suffix or empty."""
    eta = datetime.timedelta(seconds=int(eta_seconds))
    return (f"[Train][Epoch {epoch}/{epochs}][Iter: {it}/{iters}]lr: {lr:.8f}, "
            f"{format_metrics(losses)}, batch_cost: {batch_cost:.5f}s, "
            f"reader_cost: {reader_cost:.5f}s, ips: {batch_size / max(batch_cost, 1e-9):.5f} "
            f"samples/s, eta: {eta}{memory}")


def memory_message(device):
    """``Global.print_mem_info``'s suffix of a training line, as PaddleClas's ``log_info``.

    On a GPU: ``", max_mem_reserved: X MB, max_mem_allocated: Y MB"`` (Paddle's CUDA
    allocator peaks, MiB). PaddleClas prints nothing without CUDA; on CPU this prints the
    figure the host has instead: ``", max_mem_rss: X MB"``, the process's peak resident set
    size (``getrusage`` ru_maxrss, KiB on Linux).
    """
    import paddle

    if device == "gpu" and paddle.device.is_compiled_with_cuda():
        mib = 1024 ** 2
        return (f", max_mem_reserved: {paddle.device.cuda.max_memory_reserved() / mib:.2f} MB"
                f", max_mem_allocated: {paddle.device.cuda.max_memory_allocated() / mib:.2f} MB")
    return f", max_mem_rss: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.2f} MB"


def parse_log_ranks(value):
    """``Global.log_ranks`` as a list of ranks: ``"0,1"``, ``0``, ``(0, 1)`` or ``[0, 1]``
    (PaddleClas's ``init_logger`` takes the first two; ``-o Global.log_ranks=0,1`` arrives as
    a string or a tuple depending on the override parser). Raises ValueError otherwise."""
    items = value.split(",") if isinstance(value, str) else \
        [value] if isinstance(value, int) else value
    try:
        ranks = [int(str(r).strip()) for r in items]
    except (TypeError, ValueError):
        ranks = None
    if not ranks or any(r < 0 for r in ranks) or isinstance(value, bool):
        raise ConfigError(f"Global.log_ranks must be a rank or comma-separated ranks such as "
                          f"0,1 (the ranks whose INFO lines are logged), got {value!r}")
    return ranks


class Recorder:
    """Rank-0 side effects of training: VisualDL, history JSON and the curves plot.

    Files are replaced atomically through fresh temporaries (``ppcls_ext.outputs``): a
    symlink planted in the output folder is replaced, never written through; a planted
    ``vdl`` symlink is refused."""

    def __init__(self, output_dir, use_visualdl=False, enabled=True):
        self.output_dir, self.enabled = output_dir, enabled
        self.history = []
        self.writer = None
        if enabled and use_visualdl:
            from visualdl import LogWriter

            self.writer = LogWriter(logdir=refuse_symlink(os.path.join(output_dir, "vdl")))

    def scalars(self, prefix, values, step):
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(tag=f"{prefix}/{key}", step=step, value=float(value))

    MAX_HISTORY_BYTES = 64 << 20  # a history.json larger than this is not read back

    def resume(self, epoch):
        """Continue ``history.json`` of the output folder after a resume from ``epoch``: its
        entries up to that epoch are kept (later ones belong to the run being replaced), so
        the file and ``curves.png`` cover the whole training. An unreadable file is left to be
        replaced, with a warning. Returns the number of entries kept."""
        path = os.path.join(self.output_dir, "history.json")
        if not self.enabled or not os.path.isfile(path) or os.path.islink(path):
            return 0
        try:
            if os.path.getsize(path) > self.MAX_HISTORY_BYTES:
                raise ValueError(f"larger than {self.MAX_HISTORY_BYTES} bytes")
            with open(path) as f:
                entries = json.load(f)
            kept = [e for e in entries if isinstance(e, dict) and isinstance(e.get("epoch"), int)
                    and e["epoch"] <= epoch and isinstance(e.get("train"), dict)
                    and isinstance(e.get("eval"), dict)]
        except (OSError, ValueError, TypeError) as exc:
            logger.warning(f"{path} is not a readable history ({exc}); it is replaced by the "
                           "epochs trained from now on")
            return 0
        self.history = kept
        return len(kept)

    def epoch(self, epoch, train=None, evaluation=None):
        if not self.enabled:
            return
        self.history.append(dict(epoch=epoch, train=train or {}, eval=evaluation or {}))
        write_json(os.path.join(self.output_dir, "history.json"), self.history, indent=1)

    def plot(self, path=None):
        """Loss and accuracy per epoch as a PNG (matplotlib, no display needed)."""
        if not self.enabled or not self.history:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = path or os.path.join(self.output_dir, "curves.png")
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        for split, style in (("train", "-o"), ("eval", "-s")):
            pts = [(h["epoch"], h[split]["loss"]) for h in self.history if "loss" in h[split]]
            if pts:
                ax_loss.plot(*zip(*pts), style, label=f"{split} loss")
        for key in ("top1", "top5"):
            pts = [(h["epoch"], h["eval"][key]) for h in self.history if key in h["eval"]]
            if pts:
                ax_acc.plot(*zip(*pts), "-o", label=f"eval {key}")
        for ax, title in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.set_xlabel("epoch")
            ax.set_title(title)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend()
        fig.tight_layout()
        try:
            atomic_write(path, writer=lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
        finally:
            plt.close(fig)
        return path

    def close(self):
        if self.writer is not None:
            self.writer.close()
