"""The Paddle-free preprocessing of detection exports (ppcls_infer.det_preprocess) computes
what PaddleDetection's operators compute, and refuses what it does not implement."""
import contextlib
import io

import numpy as np
import pytest

from ppcls_infer.det_preprocess import OPERATORS, build_det_preprocess, preprocess_image

NORMALIZE = {"type": "NormalizeImage", "mean": [0.485, 0.456, 0.406],
             "std": [0.229, 0.224, 0.225], "is_scale": True}
# what the shipped configs export (PP-YOLOE: interp 2, YOLOv10: interp 1, stock YOLOv10 mean 0
# std 1), plus keep_ratio, norm_type none, no scaling and PadStride (a PadBatch reader)
PIPELINES = [
    [{"type": "Resize", "target_size": [96, 96], "keep_ratio": False, "interp": 2}, NORMALIZE,
     {"type": "Permute"}],
    [{"type": "Resize", "target_size": [640, 640], "keep_ratio": False, "interp": 1},
     {"type": "NormalizeImage", "mean": [0., 0., 0.], "std": [1., 1., 1.], "is_scale": True},
     {"type": "Permute"}],
    [{"type": "Resize", "target_size": [96, 160], "keep_ratio": True, "interp": 1},
     dict(NORMALIZE, is_scale=False), {"type": "Permute"}, {"type": "PadStride", "stride": 32}],
    [{"type": "Resize", "target_size": 50, "keep_ratio": False, "interp": 0},
     dict(NORMALIZE, norm_type="none"), {"type": "Permute"}],
]
SHAPES = [(96, 96), (37, 53), (480, 640)]


def _ppdet_ops(steps):
    """PaddleDetection's own operators for ``steps`` (PadStride: its PadBatch on one image,
    which pads the same way), imported quietly as the old predictor did."""
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    with contextlib.redirect_stdout(io.StringIO()):
        from ppdet.data.transform import batch_operators, operators
    ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    ops = []
    for step in steps:
        kwargs = dict(step)
        name = kwargs.pop("type")
        if name == "PadStride":
            pad = batch_operators.PadBatch(pad_to_stride=kwargs["stride"])
            ops.append(lambda s, pad=pad: pad([s])[0])
        else:
            ops.append(getattr(operators, name)(**kwargs))
    return ops


@pytest.mark.integration  # imports PaddleDetection
@pytest.mark.parametrize("steps", PIPELINES)
def test_matches_paddledetection_operators(steps):
    rng = np.random.default_rng(0)
    ours = build_det_preprocess(steps)
    theirs = _ppdet_ops(steps)
    for shape in SHAPES:
        image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
        feed = preprocess_image(ours, image.copy())
        sample = {"image": image.copy(), "im_shape": np.array(shape, np.float32),
                  "scale_factor": np.ones(2, np.float32)}
        for op in theirs:
            sample = op(sample)
        assert feed["image"].shape == (1,) + sample["image"].shape
        assert feed["image"].dtype == np.float32
        np.testing.assert_allclose(feed["image"][0], sample["image"], rtol=0, atol=1e-5)
        for key in ("im_shape", "scale_factor"):
            np.testing.assert_allclose(feed[key][0], sample[key], rtol=1e-6)


def test_feed_shapes_and_values():
    steps = PIPELINES[0]
    image = np.full((48, 64, 3), 255, np.uint8)
    feed = preprocess_image(build_det_preprocess(steps), image)
    assert feed["image"].shape == (1, 3, 96, 96) and feed["image"].flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(feed["image"][0, :, 0, 0],
                               (1 - np.array(NORMALIZE["mean"])) / NORMALIZE["std"], rtol=1e-5)
    np.testing.assert_allclose(feed["im_shape"], [[96, 96]])
    np.testing.assert_allclose(feed["scale_factor"], [[2.0, 1.5]])  # (y, x)
    padded = preprocess_image(build_det_preprocess(PIPELINES[2]), image)["image"]
    assert padded.shape == (1, 3, 96, 128)  # 96x128 resized, already multiples of 32
    odd = preprocess_image(build_det_preprocess([{"type": "Permute"},
                                                 {"type": "PadStride", "stride": 32}]),
                           np.ones((33, 40, 3), np.float32))["image"]
    assert odd.shape == (1, 3, 64, 64)
    assert odd[0, :, 33:].sum() == 0 and odd[0, :, :, 40:].sum() == 0  # zeros below, right


@pytest.mark.parametrize("steps,message", [
    ([{"type": "LetterBoxResize", "target_size": 96}],
     "infer_cfg.yml Preprocess step 'LetterBoxResize' is not supported by this predictor; "
     "supported: Resize, NormalizeImage, Permute, PadStride"),
    ([{"target_size": 96}], r"infer_cfg.yml Preprocess\[0\] must be a mapping with a 'type' key"),
    ([{"type": "Resize", "target_size": [96, 96]}], "Resize needs key.*keep_ratio"),
    ([{"type": "Resize", "target_size": [96, 96], "keep_ratio": False, "size": 3}],
     "unknown key 'size'"),
    ([{"type": "Resize", "target_size": [0, 96], "keep_ratio": False}], "target_size must be"),
    ([{"type": "NormalizeImage", "norm_type": "minmax"}], "norm_type must be mean_std or none"),
    ({"type": "Permute"}, "must be a list of steps"),
])
def test_unsupported_or_bad_steps_are_one_line(steps, message):
    with pytest.raises(ValueError, match=message) as err:
        build_det_preprocess(steps)
    assert "\n" not in str(err.value)

