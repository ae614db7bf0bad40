"""Build a ``paddle.io.DataLoader`` from a PaddleClas ``DataLoader`` config section.

Mirrors PaddleClas's ``build_dataloader``: ``DataLoader.<Mode>.dataset`` (``name`` plus the
dataset's keys, ``transform_ops``, ``batch_transform_ops``), ``sampler``
(``DistributedBatchSampler`` or ``BatchSampler`` with ``batch_size``, ``shuffle``,
``drop_last``) and ``loader`` (``num_workers``, ``use_shared_memory``). Batch ops run in the
collate function, as PaddleClas's ``mix_collate_fn`` does.
"""
import copy
import random

import numpy as np
import paddle
import paddle.distributed as dist
from paddle.io import BatchSampler, DataLoader, DistributedBatchSampler, get_worker_info
from ppcls_infer.cli import UserError

from .dataset import DATASETS
from .transforms.batch_ops import BATCH_OPS_WITH_SAMPLER, resolve_class_num
from ...factory import check_keywords, unknown_keys_message
from .transforms.ops import create_operators
from ...validation import ConfigError

SAMPLER_KEYS = {"name", "batch_size", "shuffle", "drop_last"}
LOADER_KEYS = {"num_workers", "use_shared_memory"}


def build_dataset(dataset_config, where="DataLoader.Train.dataset"):
    """``DataLoader.<Mode>.dataset`` section (``name`` + the dataset's keys) -> dataset."""
    cfg = copy.deepcopy(dict(dataset_config or {}))
    name = cfg.pop("name", None)
    cfg.pop("batch_transform_ops", None)
    if name not in DATASETS:
        raise ConfigError(f"{where}.name {name!r} is not a known dataset; valid: "
                          f"{', '.join(DATASETS)}")
    check_keywords(name, cfg, DATASETS[name], where)
    # Not wrapped like ops: the dataset's own errors name the list file, line or path; a key
    # they name (``dataset.image_root``, ``transform_ops``) gets its section, Train or Eval.
    try:
        return DATASETS[name](**cfg)
    except UserError as exc:
        message = str(exc)
        for key in ("dataset.", "transform_ops"):
            if message.startswith(key):
                qualified = where[:-len(".dataset")] + "." + message if key == "dataset." \
                    else f"{where}.{message}"
                raise type(exc)(qualified) from None
        raise


class BatchCollator:
    """Stack samples; apply the batch ops (soft targets) when configured."""

    def __init__(self, batch_ops):
        self.batch_ops = batch_ops

    def __call__(self, samples):
        shapes = {s[0].shape for s in samples}
        if len(shapes) > 1:
            raise ConfigError(f"images of one batch have different shapes {sorted(shapes)}: "
                              "add ResizeImage/CropImage (or RandCropImage) to transform_ops so "
                              "every image ends at one size")
        imgs = np.stack([s[0] for s in samples]).astype(np.float32, copy=False)
        labels = np.asarray([s[1] for s in samples], dtype=np.int64).reshape(-1, 1)
        for op in self.batch_ops:
            imgs, labels = op(imgs, labels)
        return [imgs, labels]


def _stop_workers(iterator, timeout=5.0):
    """Shut a failed multi-process iterator down without waiting forever (private Paddle API,
    hence the guards); ends with terminating workers that are still alive."""
    try:
        iterator._try_shutdown_all(timeout)
    except Exception:  # noqa: BLE001 - best effort: the original error is what matters
        pass
    for worker in getattr(iterator, "_workers", []):
        if worker.is_alive():
            worker.terminate()


class ClassificationDataLoader(DataLoader):
    """A ``paddle.io.DataLoader`` whose ``num_workers=0`` path cannot hang.

    Paddle's single-process iterator reads batches in a helper thread that dies on any
    exception from the dataset or the collate function, leaving the training loop blocked
    forever (Paddle 3.3: ``_DataLoaderIterSingleProcess._thread_loop`` only catches
    StopIteration). With ``num_workers=0`` batches are therefore built in the calling thread,
    so errors (all images corrupt, label out of range, a crop larger than the image) surface
    as exceptions. With worker processes Paddle's iterator is used; when a worker fails, its
    workers are stopped here (Paddle's own clean-up can wait forever for a stuck worker) and
    the error is re-raised with a pointer to the worker's traceback.
    """

    def __iter__(self):
        if self.num_workers > 0:
            return self._iterate_with_workers()
        return self._iterate_in_this_thread()

    def __call__(self):
        return self.__iter__()

    def _iterate_with_workers(self):
        iterator = super().__iter__()
        try:
            yield from iterator
        except Exception as exc:
            _stop_workers(iterator)
            raise RuntimeError(f"a DataLoader worker failed ({exc}); the worker's own error and "
                               "traceback are printed above (stderr)") from exc

    def _iterate_in_this_thread(self):
        for indices in self.batch_sampler:
            batch = self.collate_fn([self.dataset[i] for i in indices])
            yield [paddle.to_tensor(field) for field in batch]


class _WorkerSeeder:
    """Seed each loader worker's ``random``/``numpy`` from Paddle's per-iterator worker seed,
    the rank, the worker id and ``Global.seed``.

    Paddle already gives every worker of every epoch its own seed (drawn from the parent's
    numpy state, so reproducible under ``Global.seed``); mixing in the rank keeps two GPUs from
    drawing the same augmentation stream. PaddleClas's ``worker_init_fn`` instead reuses one
    seed per worker in every epoch. Workers also ignore SIGINT (``engine.interrupt``).
    """

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, worker_id):
        # Ctrl-C reaches the whole process group; the main process stops the workers itself
        from ..interrupt import ignore_sigint_in_worker

        ignore_sigint_in_worker()
        info = get_worker_info()
        base = info.seed if info is not None else 0
        entropy = [base % 2 ** 63, dist.get_rank(), worker_id, (self.seed or 0) % 2 ** 63]
        value = int(np.random.SeedSequence(entropy).generate_state(1)[0])
        random.seed(value)
        np.random.seed(value)


def _with_class_num(op_list, class_num, where):
    """Give batch ops the class count, as PaddleClas's engine does from ``Arch.class_num``
    (stored as ``DataLoader.class_num``); an op's own, different ``class_num`` is an error."""
    if not op_list:
        return op_list
    out = []
    for entry in op_list:
        if isinstance(entry, dict) and len(entry) == 1:
            name, kwargs = next(iter(entry.items()))
            if name in BATCH_OPS_WITH_SAMPLER and (kwargs is None or isinstance(kwargs, dict)):
                kwargs = dict(kwargs or {})
                kwargs["class_num"] = resolve_class_num(kwargs.get("class_num"), class_num,
                                                        f"{where}.{name}")
                entry = {name: kwargs}
        out.append(entry)
    return out


def _check_keys(section, valid, where):
    unknown = set(section) - valid
    if unknown:
        raise ConfigError(unknown_keys_message(unknown, valid, where))


class UnpaddedDistributedBatchSampler(BatchSampler):
    """``DistributedBatchSampler`` for evaluation, without its padding: rank ``r`` of ``n``
    takes samples ``r, r + n, r + 2n, ...`` of the (optionally shuffled) index list, so that
    every sample is counted exactly once over the ranks and a metric does not depend on the
    number of processes. Paddle's sampler repeats the first samples until the set divides by
    ``n``; PaddleClas's evaluation gathers every rank's outputs and cuts those duplicates off
    (``ppcls/engine/evaluation/classification.py``); here the ranks' counts are summed
    instead, so the duplicates are never drawn. Ranks may get different numbers of batches:
    evaluation runs no collective inside its loop."""

    def __init__(self, dataset, batch_size, shuffle=False, drop_last=False, num_replicas=None,
                 rank=None):
        super().__init__(dataset=dataset, batch_size=batch_size, shuffle=shuffle,
                         drop_last=drop_last)
        self.dataset = dataset
        self.nranks = num_replicas or dist.get_world_size()
        self.local_rank = dist.get_rank() if rank is None else rank
        self.epoch = 0

    def _local_indices(self):
        indices = np.arange(len(self.dataset))
        if self.shuffle:
            np.random.RandomState(self.epoch).shuffle(indices)
        return indices[self.local_rank::self.nranks].tolist()

    def __iter__(self):
        local = self._local_indices()
        if self.shuffle:
            self.epoch += 1
        for start in range(0, len(local), self.batch_size):
            batch = local[start:start + self.batch_size]
            if len(batch) < self.batch_size and self.drop_last:
                return
            yield batch

    def __len__(self):
        count = len(range(self.local_rank, len(self.dataset), self.nranks))
        return count // self.batch_size if self.drop_last else -(-count // self.batch_size)

    def set_epoch(self, epoch):
        self.epoch = epoch


def build_dataloader(dataloader_config, mode, seed=None):
    """``DataLoader.<mode>`` -> paddle DataLoader yielding ``[images, labels]`` on the current
    device (``paddle.set_device``; PaddleClas's ``device`` argument is not needed in dygraph)."""
    if mode not in (dataloader_config or {}):
        raise ConfigError(f"DataLoader has no {mode!r} section; present: "
                          f"{', '.join(dataloader_config or {}) or '(none)'}")
    section = dataloader_config[mode]
    where = f"DataLoader.{mode}"
    dataset = build_dataset(section.get("dataset"), f"{where}.dataset")
    ops_where = f"{where}.dataset.batch_transform_ops"
    batch_ops = create_operators(
        _with_class_num(section["dataset"].get("batch_transform_ops"),
                        dataloader_config.get("class_num"), ops_where),
        BATCH_OPS_WITH_SAMPLER, ops_where)

    sampler_cfg = dict(section.get("sampler") or {})
    _check_keys(sampler_cfg, SAMPLER_KEYS, f"{where}.sampler")
    sampler_name = sampler_cfg.pop("name", "DistributedBatchSampler")
    samplers = {"DistributedBatchSampler": DistributedBatchSampler, "BatchSampler": BatchSampler}
    if sampler_name not in samplers:
        raise ConfigError(f"{where}.sampler.name {sampler_name!r}; valid: {', '.join(samplers)}")
    if "batch_size" not in sampler_cfg:
        raise ConfigError(f"{where}.sampler.batch_size is required (per device)")
    # DistributedBatchSampler shards by rank; with one process it is a plain batch sampler.
    # Evaluated over several ranks it would count the samples it pads with twice.
    if mode == "Eval" and sampler_name == "DistributedBatchSampler" and \
            dist.get_world_size() > 1:
        sampler_name = "UnpaddedDistributedBatchSampler"
        samplers[sampler_name] = UnpaddedDistributedBatchSampler
    batch_sampler = samplers[sampler_name](dataset, **sampler_cfg)

    loader_cfg = dict(section.get("loader") or {})
    _check_keys(loader_cfg, LOADER_KEYS, f"{where}.loader")
    num_workers = int(loader_cfg.get("num_workers", 0))
    shared_memory = bool(loader_cfg.get("use_shared_memory", True))
    return ClassificationDataLoader(
        dataset, batch_sampler=batch_sampler, num_workers=num_workers,
        use_shared_memory=shared_memory, collate_fn=BatchCollator(batch_ops),
        worker_init_fn=_WorkerSeeder(seed) if num_workers > 0 else None, return_list=True)
