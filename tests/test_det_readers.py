"""PaddleDetection's reading of unreadable images (skip with a name and a count, never hang)
and predicted boxes clipped to the image (ppcls_ext.det.readers / postprocess)."""
import json
import os

import numpy as np
import pytest

pytest.importorskip("ppdet")

from det_helpers import make_tiny_coco  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def patched():
    import ppcls_ext.det

    with ppcls_ext.det.installed():
        from ppcls_ext.det import readers
        yield readers


def test_clip_boxes_per_image_of_the_batch(patched):
    import paddle

    from ppcls_ext.det.postprocess import clip_boxes
    from ppcls_infer.postprocess import clip_boxes as clip_boxes_np

    bbox = paddle.to_tensor([[0, 0.9, -60.0, 28.0, 186.0, 156.0],   # image 0: 96x96 after /2
                             [1, 0.8, 10.0, -5.0, 50.0, 40.0],
                             [1, 0.7, 70.0, 20.0, 100.0, 130.0]])   # image 1: 120 wide, 80 high
    bbox_num = paddle.to_tensor([2, 1], dtype="int32")
    im_shape = paddle.to_tensor([[192.0, 192.0], [160.0, 240.0]])
    scale = paddle.to_tensor([[2.0, 2.0], [2.0, 2.0]])
    out = clip_boxes(bbox, bbox_num, im_shape, scale).numpy()
    np.testing.assert_allclose(out, [[0, 0.9, 0, 28, 96, 96], [1, 0.8, 10, 0, 50, 40],
                                     [1, 0.7, 70, 20, 100, 80]], rtol=0, atol=1e-5)
    # nothing found: ppdet's placeholder row with bbox_num 0 stays as it is
    empty = clip_boxes(paddle.to_tensor([[-1.0, 0, 0, 0, 0, 0]]), paddle.to_tensor([0]),
                       im_shape[:1], scale[:1]).numpy()
    np.testing.assert_array_equal(empty, [[-1, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(clip_boxes_np([[3, 0.5, -1, 2, 186, 50]], 64, 96),
                               [[3, 0.5, 0, 2, 96, 50]])


def test_decode_names_the_file_and_dataset_substitutes_the_next(patched, tmp_path):
    from ppdet.data.reader import Compose
    from ppdet.data.source.coco import COCODataSet
    from ppdet.data.transform.operators import Decode

    data = make_tiny_coco(str(tmp_path), n_train=4, n_val=1, size=48)
    open(os.path.join(data, "images", "train_1.png"), "wb").close()  # 0 bytes
    with pytest.raises(patched.UnreadableImageError, match=r"train_1.png: cannot decode"):
        Decode()({"im_file": os.path.join(data, "images", "train_1.png")})
    ds = COCODataSet(dataset_dir=data, image_dir="images", anno_path="train.json",
                     data_fields=["image", "gt_bbox", "gt_class", "is_crowd"])
    ds.parse_dataset()
    ds.set_transform(Compose([{"Decode": {}}]))
    ds.set_kwargs()
    samples = [ds[i] for i in range(4)]  # index 1 is served by index 2, logged once
    assert [s["image"].shape for s in samples] == [(48, 48, 3)] * 4
    assert [int(s["im_id"][0]) for s in samples] == [1, 3, 3, 4]
    assert not any("im_file" in s for s in samples)  # dropped as ppdet's Decode drops it
    assert ds.unreadable == [f"{os.path.join(data, 'images', 'train_1.png')}: cannot decode "
                             "image (empty, truncated or not an image)"]
    for name in ("train_0.png", "train_2.png", "train_3.png"):
        open(os.path.join(data, "images", name), "wb").close()
    with pytest.raises(RuntimeError, match=r"4 consecutive images from index 0 could not be "
                                           r"decoded \(last: .*train_3.png: cannot decode"):
        ds[0]


def test_read_error_kinds(patched, tmp_path):
    import cv2

    good = tmp_path / "ok.bmp"
    cv2.imwrite(str(good), np.full((8, 8, 3), 100, np.uint8))
    full = tmp_path / "full.jpg"
    cv2.imwrite(str(full), np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    (tmp_path / "trunc.jpg").write_bytes(full.read_bytes()[:len(full.read_bytes()) // 2])
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    assert patched.read_error(str(good)) is None
    assert "image file is truncated" in patched.read_error(str(tmp_path / "trunc.jpg"))
    for name in ("empty.png", "text.png"):
        assert patched.read_error(str(tmp_path / name)).endswith(
            f"{name}: cannot decode image (empty, truncated or not an image)")
    assert "No such file" in patched.read_error(str(tmp_path / "nope.png"))
