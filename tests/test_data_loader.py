"""build_dataloader: the recipe's batches, samplers, sharding, workers, layouts, config errors."""
import os

import numpy as np
import pytest

from data_helpers import EVAL_OPS, MIX_OPS, NORMALIZE, TRAIN_OPS, loader_config, make_dataset
from ppcls_ext.engine.data import build_dataloader, build_dataset


@pytest.mark.integration  # worker processes
def test_full_training_recipe_yields_soft_targets_with_workers(tmp_path):
    make_dataset(str(tmp_path))
    cfg = loader_config(str(tmp_path), TRAIN_OPS, MIX_OPS, workers=2, class_num=3)
    batches = list(build_dataloader(cfg, "Train", seed=0))
    assert len(batches) == 3
    for images, labels in batches:
        assert images.shape == [4, 3, 32, 32] and str(images.dtype) == "paddle.float32"
        assert labels.shape == [4, 3] and str(labels.dtype) == "paddle.float32"
        np.testing.assert_allclose(labels.sum(axis=1).numpy(), 1.0, atol=1e-5)
        assert -3 < float(images.mean()) < 3  # normalised, not 0..255


def test_eval_recipe_hard_labels_chw_and_dataset_api(tmp_path):
    make_dataset(str(tmp_path), n=10)
    cfg = loader_config(str(tmp_path), EVAL_OPS, mode="Eval", shuffle=False)
    loader = build_dataloader(cfg, "Eval")
    images, labels = next(iter(loader))
    assert images.shape == [4, 3, 32, 32] and str(images.dtype) == "paddle.float32"
    assert labels.shape == [4, 1] and str(labels.dtype) == "paddle.int64"
    assert labels.numpy().ravel().tolist() == [0, 1, 2, 0]
    ds = loader.dataset
    assert ds.images[0] == os.path.join(str(tmp_path), "img", "0.jpg")
    assert ds.labels[:4] == [0, 1, 2, 0] and ds.class_num_seen == 3 and ds.skipped == []
    ds.check_labels(3)


def test_batch_sampler_and_test_mode(tmp_path):
    make_dataset(str(tmp_path), n=6)
    cfg = loader_config(str(tmp_path), EVAL_OPS, sampler="BatchSampler", batch_size=3,
                        mode="Test", shuffle=False)
    loader = build_dataloader(cfg, "Test")
    assert type(loader.batch_sampler).__name__ == "BatchSampler" and len(loader) == 2


def test_each_rank_gets_its_shard(tmp_path, monkeypatch):
    """Under paddle.distributed.launch the sampler reads rank/world size from the env."""
    make_dataset(str(tmp_path), n=12)
    shards = []
    for rank in (0, 1):
        monkeypatch.setenv("PADDLE_TRAINER_ID", str(rank))
        monkeypatch.setenv("PADDLE_TRAINERS_NUM", "2")
        cfg = loader_config(str(tmp_path), EVAL_OPS, batch_size=3)
        sampler = build_dataloader(cfg, "Train").batch_sampler
        assert sampler.nranks == 2 and sampler.local_rank == rank and len(sampler) == 2
        shards.append({i for batch in sampler for i in batch})
    assert shards[0].isdisjoint(shards[1]) and len(shards[0] | shards[1]) == 12


def _flip_pattern(loader):
    return [tuple(float(img[0, 0, 0]) for img in images) for images, _ in loader]


@pytest.mark.integration  # worker processes
def test_workers_draw_distinct_reproducible_augmentations(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=16, size=(8, 8))
    with open(os.path.join(root, "list.txt"), "w") as f:  # one image, 16 times
        f.write("".join("img/0.jpg 0\n" for _ in range(16)))
    ops = [{"DecodeImage": None}, {"RandFlipImage": {"flip_code": 1}}, NORMALIZE]
    loader = build_dataloader(loader_config(root, ops, batch_size=4, workers=2, shuffle=False),
                              "Train", seed=3)
    np.random.seed(11)
    first = _flip_pattern(loader)
    second = _flip_pattern(loader)
    np.random.seed(11)
    assert _flip_pattern(loader) == first  # Global.seed makes the epoch reproducible
    assert first != second  # but epochs differ
    assert first[0] != first[1]  # and the two workers (batches 0, 1) do not repeat each other


def test_channel_first_ops_are_not_transposed_twice(tmp_path):
    make_dataset(str(tmp_path), n=4, size=(40, 30))
    for ops in ([{"DecodeImage": None}, NORMALIZE, {"ToCHWImage": None}],
                [{"DecodeImage": {"channel_first": True}},
                 {"NormalizeImage": {"order": "chw"}}],
                [{"DecodeImage": None}, NORMALIZE]):
        images, _ = next(iter(build_dataloader(loader_config(str(tmp_path), ops), "Train")))
        assert images.shape == [4, 3, 30, 40]


def test_class_num_for_batch_ops(tmp_path):
    make_dataset(str(tmp_path), n=4)
    with pytest.raises(ValueError, match="needs the number of classes.*Arch.class_num"):
        build_dataloader(loader_config(str(tmp_path), EVAL_OPS, MIX_OPS), "Train")
    own = [{"MixupOperator": {"alpha": 0.8, "class_num": 3}}]
    _, labels = next(iter(build_dataloader(loader_config(str(tmp_path), EVAL_OPS, own), "Train")))
    assert labels.shape == [4, 3]
    with pytest.raises(ValueError, match="MixupOperator.class_num = 3 differs from Arch"):
        build_dataloader(loader_config(str(tmp_path), EVAL_OPS, own, class_num=10), "Train")


def test_config_errors_name_the_key(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=4)
    cfg = loader_config(root, EVAL_OPS)
    with pytest.raises(ValueError, match="no 'Eval' section; present: Train"):
        build_dataloader(cfg, "Eval")
    cfg["Train"]["sampler"]["batchsize"] = 2
    with pytest.raises(ValueError, match=r"unknown key 'batchsize' in DataLoader.Train.sampler "
                       r"\(did you mean 'batch_size'\?\)"):
        build_dataloader(cfg, "Train")
    cfg = loader_config(root, EVAL_OPS, sampler="RandomSampler")
    with pytest.raises(ValueError, match="RandomSampler.*valid: DistributedBatchSampler"):
        build_dataloader(cfg, "Train")
    cfg = loader_config(root, EVAL_OPS)
    cfg["Train"]["loader"]["workers"] = 2
    with pytest.raises(ValueError, match=r"unknown key 'workers' in DataLoader.Train.loader "
                       r"\(did you mean 'num_workers'\?\); valid keys: num_workers, use_shared_memory$"):
        build_dataloader(cfg, "Train")
    with pytest.raises(ValueError, match="'CocoDataset' is not a known dataset"):
        build_dataset({"name": "CocoDataset"})
    with pytest.raises(ValueError, match=r"needs key\(s\) \['cls_label_path'\]"):
        build_dataset({"name": "ImageNetDataset", "image_root": root})


def test_pipeline_shape_errors_are_explained(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=4)
    from PIL import Image
    Image.new("RGB", (20, 10)).save(os.path.join(root, "img", "1.jpg"))
    with pytest.raises(ValueError, match="different shapes.*add ResizeImage"):
        next(iter(build_dataloader(loader_config(root, [{"DecodeImage": None}]), "Train")))
    with pytest.raises(ValueError, match="must start with DecodeImage"):
        build_dataloader(loader_config(root, [NORMALIZE]), "Train")


def _first_batch_error(loader, timeout=60):
    """The exception the first batch raises; fails instead of hanging if it never comes."""
    import threading

    outcome = {}

    def run():
        try:
            next(iter(loader))
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the loader hung instead of raising"
    return outcome.get("error")


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.integration)])
def test_loading_errors_surface_instead_of_hanging(tmp_path, workers):
    root = str(tmp_path)
    make_dataset(root, n=4)
    for i in range(4):
        with open(os.path.join(root, "img", f"{i}.jpg"), "wb") as f:
            f.write(b"garbage")
    error = _first_batch_error(build_dataloader(loader_config(root, EVAL_OPS, workers=workers),
                                                "Train"))
    assert isinstance(error, RuntimeError)
    if workers == 0:  # in-process: the dataset's own message
        assert "none of the 4 images" in str(error)
    else:  # Paddle hides the worker's message; its traceback went to stderr
        assert "DataLoader worker failed" in str(error)
