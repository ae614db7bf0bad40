"""Data pipeline: datasets, every op, batch ops, loader, and bad input."""
import io
import os
import random

import numpy as np
import pytest
from PIL import Image

from ppcls_ext.engine.data import (CorruptImageError, ImageFolderDataset, ImageNetDataset,
                                   build_dataloader, create_operators, decode_image)
from ppcls_ext.engine.data.transforms import (CutmixOperator, MixupOperator, OpSampler,
                                              RandomErasing, TimmAutoAugment)
from ppcls_ext.engine.data.transforms.randaugment import parse_rand_config

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
EVAL_OPS = [{"DecodeImage": {"to_rgb": True}},
            {"ResizeImage": {"resize_short": 36, "interpolation": "bicubic", "backend": "pil"}},
            {"CropImage": {"size": 32}},
            {"NormalizeImage": {"scale": "1.0/255.0", "mean": MEAN, "std": STD, "order": ""}}]
TRAIN_OPS = [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
             {"RandCropImage": {"size": 32, "interpolation": "bicubic", "backend": "pil"}},
             {"RandFlipImage": {"flip_code": 1}},
             {"TimmAutoAugment": {"config_str": "rand-m9-mstd0.5-inc1",
                                  "interpolation": "bicubic", "img_size": 32}},
             {"NormalizeImage": {"scale": "1.0/255.0", "mean": MEAN, "std": STD, "order": ""}},
             {"RandomErasing": {"EPSILON": 0.25, "sl": 0.02, "sh": "1.0/3.0", "r1": 0.3,
                                "attempt": 10, "use_log_aspect": True, "mode": "pixel"}}]


def _png_bytes(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_dataset(root, n=12, classes=3, size=(40, 30)):
    os.makedirs(os.path.join(root, "img"), exist_ok=True)
    lines = []
    rng = np.random.RandomState(0)
    for i in range(n):
        arr = rng.randint(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(os.path.join(root, "img", f"{i}.jpg"), quality=90)
        lines.append(f"img/{i}.jpg {i % classes}")
    with open(os.path.join(root, "list.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return os.path.join(root, "list.txt")


def loader_config(root, ops, batch_ops=None, batch_size=4, workers=0, class_num=None):
    dataset = {"name": "ImageNetDataset", "image_root": root,
               "cls_label_path": os.path.join(root, "list.txt"), "transform_ops": ops}
    if batch_ops:
        dataset["batch_transform_ops"] = batch_ops
    cfg = {"Train": {"dataset": dataset,
                     "sampler": {"name": "DistributedBatchSampler", "batch_size": batch_size,
                                 "drop_last": True, "shuffle": True},
                     "loader": {"num_workers": workers, "use_shared_memory": True}}}
    if class_num:
        cfg["class_num"] = class_num
    return cfg


# ----------------------------------------------------------------------------- loader
def test_full_recipe_loader_yields_soft_targets(tmp_path):
    make_dataset(str(tmp_path))
    batch_ops = [{"OpSampler": {"MixupOperator": {"alpha": 0.8, "prob": 0.5},
                                "CutmixOperator": {"alpha": 1.0, "prob": 0.5}}}]
    loader = build_dataloader(loader_config(str(tmp_path), TRAIN_OPS, batch_ops, workers=2,
                                            class_num=3), "Train", seed=0)
    batches = list(loader)
    assert len(batches) == 3
    images, labels = batches[0]
    assert images.shape == [4, 3, 32, 32] and str(images.dtype) == "paddle.float32"
    assert labels.shape == [4, 3] and str(labels.dtype) == "paddle.float32"
    np.testing.assert_allclose(labels.sum(axis=1).numpy(), 1.0, atol=1e-5)


def test_eval_loader_hard_labels_and_chw(tmp_path):
    make_dataset(str(tmp_path))
    cfg = loader_config(str(tmp_path), EVAL_OPS)
    images, labels = next(iter(build_dataloader(cfg, "Train")))
    assert images.shape == [4, 3, 32, 32]
    assert labels.shape == [4, 1] and str(labels.dtype) == "paddle.int64"


def test_eval_ops_match_the_wheel_deploy_preprocessing(tmp_path):
    """Training-time eval and deployment must preprocess identically."""
    from paddleclas.deploy.python.preprocess import create_operators as wheel_ops

    arr = np.random.RandomState(1).randint(0, 256, (50, 70, 3), dtype=np.uint8)
    ours = create_operators(EVAL_OPS[1:] + [{"ToCHWImage": None}])
    theirs = wheel_ops(EVAL_OPS[1:] + [{"ToCHWImage": None}])
    a, b = arr, arr
    for op in ours:
        a = op(a)
    for op in theirs:
        b = op(b)
    np.testing.assert_array_equal(a, b)


def test_sharding_under_two_ranks(tmp_path, monkeypatch):
    from paddle.io import DistributedBatchSampler

    make_dataset(str(tmp_path), n=12)
    ds = ImageNetDataset(str(tmp_path), os.path.join(tmp_path, "list.txt"), EVAL_OPS)
    shards = [set(i for b in DistributedBatchSampler(ds, 3, num_replicas=2, rank=r) for i in b)
              for r in (0, 1)]
    assert shards[0].isdisjoint(shards[1]) and len(shards[0] | shards[1]) == 12


# ----------------------------------------------------------------------------- ops
def test_decode_handles_odd_modes_exif_and_16bit():
    gray = decode_image(_png_bytes(Image.new("L", (5, 4), 100)))
    assert gray.shape == (4, 5, 3) and (gray == 100).all()
    rgba = decode_image(_png_bytes(Image.new("RGBA", (3, 3), (10, 20, 30, 0))))
    assert (rgba == 255).all()  # fully transparent -> white background
    buf = io.BytesIO()
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(buf, format="JPEG")
    cmyk = decode_image(buf.getvalue())
    assert cmyk.shape == (4, 4, 3) and cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 60
    deep = decode_image(_png_bytes(Image.fromarray(np.full((2, 2), 65535, np.uint16))))
    assert (deep == 255).all()  # 16-bit range rescaled, not clipped from the low byte
    img = Image.new("RGB", (6, 3), (0, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 CW on display
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    assert decode_image(buf.getvalue()).shape == (6, 3, 3)


def test_decode_rejects_corrupt_and_truncated():
    buf = io.BytesIO()
    Image.fromarray(np.random.randint(0, 255, (64, 64, 3), np.uint8)).save(buf, format="JPEG")
    with pytest.raises(CorruptImageError, match="x.jpg"):
        decode_image(buf.getvalue()[: len(buf.getvalue()) // 2], "x.jpg")
    with pytest.raises(CorruptImageError):
        decode_image(b"not an image at all")
    with pytest.raises(CorruptImageError, match="empty"):
        decode_image(b"")


def test_decode_op_bgr_and_channel_first():
    data = _png_bytes(Image.new("RGB", (4, 2), (1, 2, 3)))
    op = create_operators([{"DecodeImage": {"to_rgb": False, "channel_first": True}}])[0]
    out = op(data)
    assert out.shape == (3, 2, 4) and out[0, 0, 0] == 3 and out[2, 0, 0] == 1


def test_randaugment_config_parsing_and_determinism():
    cfg = parse_rand_config("rand-m9-mstd0.5-inc1")
    assert cfg["magnitude"] == 9 and cfg["magnitude_std"] == 0.5 and cfg["increasing"]
    assert cfg["num_layers"] == 2 and cfg["prob"] == 0.5
    with pytest.raises(ValueError, match="only RandAugment"):
        TimmAutoAugment("original-mstd0.5")
    with pytest.raises(ValueError, match="bad part"):
        TimmAutoAugment("rand-q9-inc1")
    op = TimmAutoAugment("rand-m9-mstd0.5-inc1", img_size=32)
    img = np.random.RandomState(0).randint(0, 256, (32, 32, 3), dtype=np.uint8)
    outs = []
    for _ in range(2):
        random.seed(3)
        outs.append(op(img))
    np.testing.assert_array_equal(*outs)
    assert outs[0].shape == img.shape and outs[0].dtype == np.uint8
    random.seed(4)
    changed = sum(not np.array_equal(op(img), img) for _ in range(40))
    assert 20 < changed <= 40  # 2 ops at p=0.5: ~75% of images change


def test_random_erasing_probability_area_and_modes():
    op = RandomErasing(EPSILON=0.25, sl=0.02, sh="1.0/3.0", r1=0.3, attempt=10,
                       use_log_aspect=True, mode="pixel")
    img = np.zeros((32, 32, 3), np.float32)
    random.seed(0)
    np.random.seed(0)
    erased = [op(img.copy()) for _ in range(400)]
    fractions = [float((e != 0).any(axis=2).mean()) for e in erased]
    hit_rate = np.mean([f > 0 for f in fractions])
    assert 0.18 < hit_rate < 0.32
    assert max(fractions) <= 1 / 3 + 0.05
    const = RandomErasing(EPSILON=1.0, mode="const", mean=[0.5, 0.5, 0.5])(img.copy())
    assert set(np.unique(const)) <= {0.0, 0.5} and (const == 0.5).any()
    with pytest.raises(ValueError, match="mode"):
        RandomErasing(mode="wild")


def test_mixup_cutmix_and_sampler_probabilities():
    imgs = np.stack([np.full((3, 8, 8), i, np.float32) for i in range(4)])
    labels = np.array([[0], [1], [2], [3]])
    np.random.seed(0)
    random.seed(0)
    mixed, targets = MixupOperator(class_num=4, alpha=0.8)(imgs, labels)
    np.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
    for i in range(4):  # image i = lam * i + (1 - lam) * j, and the target says the same
        lam = targets[i].max() if targets[i].argmax() == i else targets[i, i]
        j = int(np.argsort(targets[i])[-2]) if targets[i, i] < 1 - 1e-6 else i
        np.testing.assert_allclose(mixed[i], lam * i + (1 - lam) * j, atol=1e-5)
    cut, ctargets = CutmixOperator(class_num=4, alpha=1.0)(imgs, labels)
    for i in range(4):  # the target weights equal the pasted area fraction
        own = float((cut[i, 0] == i).mean())
        assert ctargets[i, i] == pytest.approx(own, abs=1e-6) or ctargets[i].max() == 1.0
    sampler = OpSampler(class_num=4, MixupOperator={"alpha": 0.8, "prob": 0.3},
                        CutmixOperator={"alpha": 1.0, "prob": 0.3})
    unmixed = sum(float(sampler(imgs, labels)[1].max(1).min()) == 1.0 for _ in range(300))
    assert 90 < unmixed < 165  # 40% one-hot, plus mixes that drew the identity permutation
    with pytest.raises(ValueError, match="class_num"):
        MixupOperator(alpha=0.8)
    with pytest.raises(ValueError, match="outside"):
        MixupOperator(class_num=2)(imgs, labels)


def test_unknown_op_and_bad_key_name_the_culprit():
    with pytest.raises(ValueError, match="Unknown op 'ResizeImg'.*valid ops: DecodeImage"):
        create_operators([{"ResizeImg": {"size": 3}}])
    with pytest.raises(ValueError, match="CropImage got unknown key.*'sizes'.*valid keys: size"):
        create_operators([{"CropImage": {"sizes": 3}}])
    with pytest.raises(ValueError, match="one-key mapping"):
        create_operators([{"CropImage": {"size": 3}, "ToCHWImage": None}])


# ----------------------------------------------------------------------------- bad input
def test_bad_list_line_missing_files_and_labels(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=4)
    with open(os.path.join(root, "list.txt"), "a") as f:
        f.write("img/0.jpg notalabel\n")
    with pytest.raises(ValueError, match=r"list.txt:5: cannot parse"):
        ImageNetDataset(root, os.path.join(root, "list.txt"))
    with open(os.path.join(root, "list.txt"), "w") as f:
        f.write("img/0.jpg 0\nimg/missing.jpg 1\n")
    with pytest.raises(FileNotFoundError, match=r"list.txt:2: .*missing.jpg"):
        ImageNetDataset(root, os.path.join(root, "list.txt"))
    with open(os.path.join(root, "list.txt"), "w") as f:
        f.write("img/0.jpg 0\nimg/1.jpg 7\n")
    ds = ImageNetDataset(root, os.path.join(root, "list.txt"))
    with pytest.raises(ValueError, match=r"list.txt:2: label 7 is outside \[0, 3\)"):
        ds.check_labels(3)
    with pytest.raises(FileNotFoundError, match="cls_label_path"):
        ImageNetDataset(root, os.path.join(root, "nope.txt"))
    with pytest.raises(FileNotFoundError, match="image_root"):
        ImageNetDataset(os.path.join(root, "nope"), os.path.join(root, "list.txt"))



def test_corrupt_images_are_skipped_logged_once_and_bounded(tmp_path, ppcls_warnings):
    root = str(tmp_path)
    make_dataset(root, n=4)
    with open(os.path.join(root, "img", "1.jpg"), "wb") as f:
        f.write(b"\xff\xd8 broken")
    ds = ImageNetDataset(root, os.path.join(root, "list.txt"), EVAL_OPS)
    samples = [ds[i] for i in range(4)] + [ds[1]]
    assert all(s[0].shape == (3, 32, 32) for s in samples)
    assert samples[1][1] == 2  # replaced by the next decodable sample
    assert ds.skipped == [os.path.join(root, "img", "1.jpg")]
    assert sum("1.jpg" in m for m in ppcls_warnings) == 1
    for i in range(4):
        with open(os.path.join(root, "img", f"{i}.jpg"), "wb") as f:
            f.write(b"garbage")
    with pytest.raises(RuntimeError, match="could not be decoded"):
        ImageNetDataset(root, os.path.join(root, "list.txt"), EVAL_OPS)[0]


def test_image_folder_dataset(tmp_path):
    for cls in ("cat", "dog"):
        os.makedirs(tmp_path / cls)
        Image.new("RGB", (8, 8)).save(tmp_path / cls / "a.png")
    ds = ImageFolderDataset(str(tmp_path), EVAL_OPS)
    assert ds.classes == ["cat", "dog"] and ds.labels == [0, 1]
    assert ds[1][0].shape == (3, 32, 32)


def test_digits_dataset_is_deterministic(tmp_path):
    from ppcls_ext.engine.data.digits import prepare_digits

    counts = prepare_digits(str(tmp_path / "a"))
    prepare_digits(str(tmp_path / "b"))
    assert counts == {"train": 1438, "val": 359, "classes": 10}
    for name in ("train_list.txt", "val_list.txt", "label_list.txt"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    ds = ImageNetDataset(str(tmp_path / "a"), str(tmp_path / "a" / "val_list.txt"), EVAL_OPS)
    ds.check_labels(10)
    assert len(set(ds.labels)) == 10 and ds[0][0].shape == (3, 32, 32)
