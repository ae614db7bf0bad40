"""``TopkAcc`` from PaddleClas's ``Metric`` section, accumulated over an epoch and ranks.

Counts correct predictions rather than averaging per-batch accuracies, so the last, smaller
batch and uneven shards weigh what they hold; under data parallel the counts are summed
over ranks with ``paddle.distributed.all_reduce``.
"""
import paddle
import paddle.distributed as dist

from ..factory import build_op, split_entry


class TopkAcc:
    def __init__(self, topk=(1, 5)):
        self.topk = [topk] if isinstance(topk, int) else list(topk)
        self.reset()

    def reset(self):
        self.correct = {k: 0.0 for k in self.topk}
        self.total = 0.0

    def update(self, logits, label):
        """``label``: [N, 1] ints, or [N, C] soft targets (their argmax is the class)."""
        if label.ndim == 2 and label.shape[-1] == logits.shape[-1] and label.shape[-1] > 1:
            label = label.argmax(axis=-1, keepdim=True)
        label = label.reshape([-1, 1]).astype("int64")
        k_max = min(max(self.topk), logits.shape[-1])
        top = paddle.topk(logits, k_max, axis=-1)[1]
        hits = (top == label).astype("float32")
        for k in self.topk:
            self.correct[k] += float(hits[:, :min(k, k_max)].sum())
        self.total += label.shape[0]

    def accumulate(self, all_ranks=True):
        """Accuracies so far; ``all_ranks=False``: this rank's only (no collective, for the
        training log as PaddleClas's engine prints it)."""
        values = [self.correct[k] for k in self.topk] + [self.total]
        if all_ranks and dist.get_world_size() > 1:
            tensor = paddle.to_tensor(values, dtype="float64")
            dist.all_reduce(tensor)
            values = tensor.numpy().tolist()
        total = max(values[-1], 1.0)
        return {f"top{k}": values[i] / total for i, k in enumerate(self.topk)}


METRICS = {"TopkAcc": TopkAcc}


def build_metrics(metric_list, where="Metric.Eval"):
    if not metric_list:
        return []
    out = []
    for entry in metric_list:
        name, kwargs = split_entry(entry, where, "metric")
        out.append(build_op(name, kwargs, METRICS, where))
    return out
