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
import paddle.distributed as dist
from paddle.io import BatchSampler, DataLoader, DistributedBatchSampler

from .dataset import DATASETS
from .transforms.batch_ops import BATCH_OPS_WITH_SAMPLER
from .transforms.ops import build_op, create_operators

SAMPLER_KEYS = {"name", "batch_size", "shuffle", "drop_last"}
LOADER_KEYS = {"num_workers", "use_shared_memory"}


def build_dataset(dataset_config, where="DataLoader.Train.dataset"):
    cfg = copy.deepcopy(dict(dataset_config or {}))
    name = cfg.pop("name", None)
    cfg.pop("batch_transform_ops", None)
    if name not in DATASETS:
        raise ValueError(f"{where}.name {name!r} is not a known dataset; valid: "
                         f"{', '.join(DATASETS)}")
    return build_op(name, cfg, DATASETS, where)


class BatchCollator:
    """Stack samples; apply the batch ops (soft targets) when configured."""

    def __init__(self, batch_ops):
        self.batch_ops = batch_ops

    def __call__(self, samples):
        imgs = np.stack([s[0] for s in samples]).astype(np.float32)
        labels = np.asarray([s[1] for s in samples], dtype=np.int64).reshape(-1, 1)
        for op in self.batch_ops:
            imgs, labels = op(imgs, labels)
        return [imgs, labels]


class _WorkerSeeder:
    """Give each loader worker its own random/numpy stream (forked workers share state)."""

    def __init__(self, seed):
        self.seed = seed

    def __call__(self, worker_id):
        base = self.seed if self.seed is not None else np.random.randint(2 ** 31)
        value = (base + 1000 * dist.get_rank() + worker_id) % 2 ** 32
        random.seed(value)
        np.random.seed(value)


def _with_class_num(op_list, class_num):
    """Give batch ops the class count, as PaddleClas's engine does from ``Arch.class_num``
    (it stores it as ``DataLoader.class_num``), unless an op sets its own."""
    if not op_list or class_num is None:
        return op_list
    out = []
    for entry in op_list:
        if isinstance(entry, dict) and len(entry) == 1:
            name, kwargs = next(iter(entry.items()))
            entry = {name: dict(kwargs or {}, class_num=(kwargs or {}).get("class_num",
                                                                            class_num))}
        out.append(entry)
    return out


def _check_keys(section, valid, where):
    unknown = sorted(set(section) - valid)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid: {', '.join(sorted(valid))}")


def build_dataloader(dataloader_config, mode, device="cpu", seed=None):
    """``DataLoader.<mode>`` -> paddle DataLoader yielding ``[images, labels]``."""
    if mode not in (dataloader_config or {}):
        raise ValueError(f"DataLoader has no {mode!r} section; present: "
                         f"{', '.join(dataloader_config or {}) or '(none)'}")
    section = dataloader_config[mode]
    where = f"DataLoader.{mode}"
    dataset = build_dataset(section.get("dataset"), f"{where}.dataset")
    batch_ops = create_operators(
        _with_class_num(section["dataset"].get("batch_transform_ops"),
                        dataloader_config.get("class_num")),
        BATCH_OPS_WITH_SAMPLER, f"{where}.dataset.batch_transform_ops")

    sampler_cfg = dict(section.get("sampler") or {})
    _check_keys(sampler_cfg, SAMPLER_KEYS, f"{where}.sampler")
    sampler_name = sampler_cfg.pop("name", "DistributedBatchSampler")
    samplers = {"DistributedBatchSampler": DistributedBatchSampler, "BatchSampler": BatchSampler}
    if sampler_name not in samplers:
        raise ValueError(f"{where}.sampler.name {sampler_name!r}; valid: {', '.join(samplers)}")
    if "batch_size" not in sampler_cfg:
        raise ValueError(f"{where}.sampler.batch_size is required (per device)")
    # DistributedBatchSampler shards by rank; with one process it is a plain batch sampler.
    batch_sampler = samplers[sampler_name](dataset, **sampler_cfg)

    loader_cfg = dict(section.get("loader") or {})
    _check_keys(loader_cfg, LOADER_KEYS, f"{where}.loader")
    num_workers = int(loader_cfg.get("num_workers", 0))
    # ``device`` is kept for PaddleClas's signature: dygraph batches land on the current device.
    return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=num_workers,
                      use_shared_memory=bool(loader_cfg.get("use_shared_memory", True)),
                      collate_fn=BatchCollator(batch_ops),
                      worker_init_fn=_WorkerSeeder(seed) if num_workers > 0 else None,
                      return_list=True)
