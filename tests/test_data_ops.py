"""Per-image ops: decoding, geometry, normalisation, RandAugment, random erasing, op errors."""
import random

import numpy as np
import pytest
from PIL import Image

from data_helpers import EVAL_OPS, MEAN, STD, encode
from ppcls_ext.engine.data import create_operators
from ppcls_ext.engine.data.transforms import RandomErasing, TimmAutoAugment
from ppcls_ext.engine.data.transforms.randaugment import (RAND_INCREASING_OPS, RAND_OPS,
                                                          parse_rand_config)


def _photo(h=50, w=70, seed=1):
    """A smooth random image (JPEG-friendly, so codecs are exercised realistically)."""
    rng = np.random.RandomState(seed)
    small = rng.randint(0, 256, (h // 5 + 1, w // 5 + 1, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))


def _run(ops, x):
    for op in ops:
        x = op(x)
    return x


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_decode_equals_the_wheel_decode(fmt):
    from paddleclas.deploy.python.preprocess import DecodeImage as WheelDecode

    data = encode(Image.fromarray(_photo()), fmt)
    ours = create_operators([{"DecodeImage": {"to_rgb": True}}])[0](data)
    np.testing.assert_array_equal(ours, WheelDecode(to_rgb=True)(data))
    bgr = create_operators([{"DecodeImage": {"to_rgb": False}}])[0](data)
    np.testing.assert_array_equal(bgr, WheelDecode(to_rgb=False)(data))


def test_decode_op_bgr_and_channel_first():
    data = encode(Image.new("RGB", (4, 2), (1, 2, 3)))
    out = create_operators([{"DecodeImage": {"to_rgb": False, "channel_first": True}}])[0](data)
    assert out.shape == (3, 2, 4) and out[0, 0, 0] == 3 and out[2, 0, 0] == 1
    with pytest.raises(ValueError, match="backend must be one of"):
        create_operators([{"DecodeImage": {"backend": "turbo"}}])


@pytest.mark.parametrize("backend", ["pil", "cv2"])
def test_inference_ops_equal_the_wheel_deploy_ops(backend):
    """Training-time eval and deployment must preprocess identically."""
    from paddleclas.deploy.python.preprocess import create_operators as wheel_ops

    cfg = [{"ResizeImage": {"resize_short": 36, "interpolation": "bicubic", "backend": backend}},
           {"CropImage": {"size": 32}}, EVAL_OPS[3], {"ToCHWImage": None}]
    arr = _photo()
    ours, theirs = _run(create_operators(cfg), arr), _run(wheel_ops(cfg), arr)
    assert ours.shape == (3, 32, 32) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)


def test_resize_and_center_crop():
    arr = _photo(50, 70)
    short = create_operators([{"ResizeImage": {"resize_short": 25}}])[0](arr)
    assert short.shape == (25, 35, 3) and short.dtype == np.uint8
    fixed = create_operators([{"ResizeImage": {"size": [20, 10], "backend": "pil"}}])[0](arr)
    assert fixed.shape == (10, 20, 3)
    crop = create_operators([{"CropImage": {"size": 10}}])[0](arr)
    np.testing.assert_array_equal(crop, arr[20:30, 30:40])
    with pytest.raises(ValueError, match=r"CropImage size \(64, 64\) is larger than the image"):
        create_operators([{"CropImage": {"size": 64}}])[0](arr)
    with pytest.raises(ValueError, match="backend must be one of"):
        create_operators([{"ResizeImage": {"size": 8, "backend": "skimage"}}])
    with pytest.raises(ValueError, match="interpolation 'cubic' is not valid.*bicubic"):
        create_operators([{"ResizeImage": {"size": 8, "interpolation": "cubic"}}])


@pytest.mark.parametrize("log_aspect", [False, True])
def test_rand_crop_shape_seed_and_crop_statistics(log_aspect):
    op = create_operators([{"RandCropImage": {"size": 16, "use_log_aspect": log_aspect,
                                              "interpolation": "bicubic", "backend": "pil"}}])[0]
    arr = _photo(60, 80)
    random.seed(5)
    first = op(arr)
    random.seed(5)
    np.testing.assert_array_equal(first, op(arr))
    assert first.shape == (16, 16, 3) and first.dtype == np.uint8
    op._resize_func = lambda img, size: img  # observe the crop itself
    crops = [op(arr).shape[:2] for _ in range(400)]
    areas = np.array([h * w / (60 * 80) for h, w in crops])
    aspects = np.array([w / h for h, w in crops])
    # scale [0.08, 1] capped by what fits the 4:3 image at the drawn aspect
    assert areas.min() > 0.06 and areas.max() <= 1.0 and 0.3 < areas.mean() < 0.6
    assert aspects.min() > 0.7 and aspects.max() < 1.45
    assert abs(np.median(np.log(aspects))) < 0.1


def test_rand_flip_is_a_fair_coin():
    op = create_operators([{"RandFlipImage": {"flip_code": 1}}])[0]
    arr = _photo(8, 8)
    outs = [op(arr) for _ in range(400)]
    flipped = sum(np.array_equal(o, arr[:, ::-1]) for o in outs)
    assert sum(np.array_equal(o, arr) for o in outs) + flipped == 400
    assert 160 < flipped < 240


def test_normalize_values_and_layouts():
    arr = _photo(6, 5)
    hwc = create_operators([EVAL_OPS[3]])[0](arr)
    expected = (arr / 255.0 - np.array(MEAN)) / np.array(STD)
    assert hwc.dtype == np.float32 and hwc.shape == (6, 5, 3)
    np.testing.assert_allclose(hwc, expected, atol=1e-5)
    chw = create_operators([{"ToCHWImage": None},
                            {"NormalizeImage": {"mean": MEAN, "std": STD, "order": "chw"}}])
    np.testing.assert_allclose(_run(chw, arr), expected.transpose(2, 0, 1), atol=1e-5)


def test_randaugment_config_parsing():
    cfg = parse_rand_config("rand-m9-mstd0.5-inc1")
    assert cfg == dict(magnitude=9, magnitude_std=0.5, magnitude_max=10, num_layers=2,
                       prob=0.5, increasing=True)
    assert parse_rand_config("rand-n3-m7-p0.8-mstd101")["magnitude_std"] == float("inf")
    assert TimmAutoAugment("rand-m9-inc1").op_names == RAND_INCREASING_OPS
    assert TimmAutoAugment("rand-m9-inc0").op_names == RAND_OPS  # PaddleClas: inc0 == inc1
    assert len(RAND_OPS) == len(RAND_INCREASING_OPS) == 15
    with pytest.raises(ValueError, match="only RandAugment"):
        TimmAutoAugment("augmix-m5-w4")
    with pytest.raises(ValueError, match="bad part 'w0'"):
        TimmAutoAugment("rand-m9-w0")
    with pytest.raises(ValueError, match="interpolation"):
        TimmAutoAugment(interpolation="cubic")


def test_randaugment_seeded_shapes_and_probabilities():
    op = TimmAutoAugment("rand-m9-mstd0.5-inc1", img_size=32)
    img = _photo(32, 32)
    outs = []
    for _ in range(2):
        random.seed(3)
        outs.append(op(img))
    np.testing.assert_array_equal(*outs)
    assert outs[0].shape == img.shape and outs[0].dtype == np.uint8
    random.seed(4)
    changed = sum(not np.array_equal(op(img), img) for _ in range(200))
    assert 120 < changed < 180  # 2 ops at p=0.5 each: 75% of images change
    pil = op(Image.fromarray(img))
    assert isinstance(pil, Image.Image) and pil.size == (32, 32)
    never = TimmAutoAugment(prob=0.0)
    assert all(never(img) is img for _ in range(20))
    for name in RAND_OPS + RAND_INCREASING_OPS:  # every op runs at the extremes
        for m in (0, 10):
            op = TimmAutoAugment(f"rand-m{m}-n1-p1.0", interpolation="random")
            op.op_names = (name,)
            assert op(img).shape == img.shape


def test_random_erasing_probability_area_and_modes():
    op = RandomErasing(EPSILON=0.25, sl=0.02, sh="1.0/3.0", r1=0.3, attempt=10,
                       use_log_aspect=True, mode="pixel")
    img = np.zeros((32, 32, 3), np.float32)
    random.seed(0)
    np.random.seed(0)
    erased = [op(img.copy()) for _ in range(400)]
    fractions = np.array([float((e != 0).any(axis=2).mean()) for e in erased])
    assert 0.18 < np.mean(fractions > 0) < 0.32
    hit = fractions[fractions > 0]
    assert hit.min() >= 0.015 and hit.max() <= 1 / 3 + 0.05
    values = np.concatenate([e[e != 0] for e in erased])
    assert abs(values.mean()) < 0.05 and 0.9 < values.std() < 1.1  # per-pixel N(0, 1)
    const = RandomErasing(EPSILON=1.0, mode="const", mean=[0.5, 0.5, 0.5])(img.copy())
    assert set(np.unique(const)) <= {0.0, 0.5} and (const == 0.5).any()
    chw = RandomErasing(EPSILON=1.0, mode="rand", channel_first=True)(np.zeros((3, 16, 16)))
    assert chw.shape == (3, 16, 16) and (chw != 0).any()
    with pytest.raises(ValueError, match="mode"):
        RandomErasing(mode="wild")


def test_unknown_op_and_bad_keys_name_the_culprit():
    with pytest.raises(ValueError, match="Unknown op 'ResizeImg'.*valid ops: DecodeImage"):
        create_operators([{"ResizeImg": {"size": 3}}])
    with pytest.raises(ValueError, match=r"unknown key 'sizes' in transform_ops \(op CropImage\) "
                       r"\(did you mean 'size'\?\); valid keys: size$"):
        create_operators([{"CropImage": {"sizes": 3}}])
    with pytest.raises(ValueError, match=r"RandCropImage needs key\(s\) \['size'\]"):
        create_operators([{"RandCropImage": {"scale": [0.5, 1.0]}}])
    with pytest.raises(ValueError, match="one-key mapping"):
        create_operators([{"CropImage": {"size": 3}, "ToCHWImage": None}])
    with pytest.raises(ValueError, match="must be a mapping"):
        create_operators([{"CropImage": 3}])
    with pytest.raises(ValueError, match="progress_size"):
        create_operators([{"RandCropImage": {"size": 8, "progress_size": [4, 8]}}])
