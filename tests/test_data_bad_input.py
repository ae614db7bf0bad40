"""Bad input: broken label lists, labels out of range, missing/corrupt files, odd image modes."""
import os

import numpy as np
import pytest
from PIL import Image

from data_helpers import EVAL_OPS, encode, loader_config, make_dataset, write_list
from ppcls_ext.engine.data import (CorruptImageError, ImageFolderDataset, ImageNetDataset,
                                   build_dataloader, decode_image)


def test_unparsable_line_names_file_line_and_format(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=4)
    with open(os.path.join(root, "list.txt"), "a") as f:
        f.write("\nimg/0.jpg notalabel\n")
    with pytest.raises(ValueError, match=r"list.txt:6: cannot parse 'img/0.jpg notalabel'; "
                                         r"expected 'relative/path.jpg <int label>'"):
        ImageNetDataset(root, os.path.join(root, "list.txt"))
    write_list(root, ["img/0.jpg"])
    with pytest.raises(ValueError, match=r"list.txt:1: cannot parse"):
        ImageNetDataset(root, os.path.join(root, "list.txt"))
    write_list(root, ["img/0.jpg,1", "img/1.jpg,0"])  # a custom delimiter
    assert ImageNetDataset(root, os.path.join(root, "list.txt"), delimiter=",").labels == [1, 0]
    write_list(root, ["img/0.jpg 10", "img/1.jpg 30", "img/2.jpg 10"])
    assert ImageNetDataset(root, os.path.join(root, "list.txt"), relabel=True).labels == [0, 1, 0]
    write_list(root, [])
    with pytest.raises(ValueError, match="lists no images"):
        ImageNetDataset(root, os.path.join(root, "list.txt"))


def test_missing_paths_name_the_key_and_path(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=4)
    write_list(root, ["img/0.jpg 0", "img/missing.jpg 1"])
    with pytest.raises(FileNotFoundError, match=r"list.txt:2: .*missing.jpg"):
        ImageNetDataset(root, os.path.join(root, "list.txt"))
    with pytest.raises(FileNotFoundError, match="cls_label_path .*nope.txt"):
        ImageNetDataset(root, os.path.join(root, "nope.txt"))
    with pytest.raises(FileNotFoundError, match="image_root .*nope"):
        ImageNetDataset(os.path.join(root, "nope"), os.path.join(root, "list.txt"))


def test_label_out_of_range_names_line_and_range(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=4)
    write_list(root, ["img/0.jpg 0", "img/1.jpg 7", "img/2.jpg -1"])
    ds = ImageNetDataset(root, os.path.join(root, "list.txt"))
    assert ds.class_num_seen == 8
    with pytest.raises(ValueError, match=r"list.txt:2: label 7 is outside \[0, 3\)"):
        ds.check_labels(3)
    with pytest.raises(ValueError, match=r"list.txt:3: label -1 is outside \[0, 8\)"):
        ds.check_labels(8)



def _break(root, names, data=b"\xff\xd8 broken"):
    for name in names:
        with open(os.path.join(root, "img", name), "wb") as f:
            f.write(data)


def test_corrupt_and_truncated_images_are_skipped_once_and_counted(tmp_path, ppcls_warnings):
    root = str(tmp_path)
    make_dataset(root, n=4, size=(64, 48))
    whole = open(os.path.join(root, "img", "2.jpg"), "rb").read()
    _break(root, ["1.jpg"])
    _break(root, ["2.jpg"], whole[: len(whole) // 2])  # truncated JPEG: cv2 would grey-fill
    ds = ImageNetDataset(root, os.path.join(root, "list.txt"), EVAL_OPS)
    samples = [ds[i] for i in range(4)] + [ds[1], ds[2]]
    assert all(s[0].shape == (3, 32, 32) for s in samples)
    assert [int(s[1]) for s in samples[:4]] == [0, 0, 0, 0]  # 1, 2 -> the next good one: 3
    assert ds.skipped == [os.path.join(root, "img", n) for n in ("1.jpg", "2.jpg")]
    assert [sum(n in m for m in ppcls_warnings) for n in ("1.jpg", "2.jpg")] == [1, 1]


def test_all_images_corrupt_is_a_clear_error_not_a_loop(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=4)
    _break(root, [f"{i}.jpg" for i in range(4)], b"garbage")
    ds = ImageNetDataset(root, os.path.join(root, "list.txt"), EVAL_OPS)
    with pytest.raises(RuntimeError, match="none of the 4 images could be decoded"):
        ds[0]


@pytest.mark.integration  # worker processes
def test_corrupt_images_in_worker_processes(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=8)
    _break(root, ["3.jpg", "6.jpg"])
    cfg = loader_config(root, EVAL_OPS, batch_size=4, workers=2)
    batches = list(build_dataloader(cfg, "Train"))
    assert [b[0].shape for b in batches] == [[4, 3, 32, 32]] * 2


def test_decodable_oddities_become_rgb():
    gray = decode_image(encode(Image.new("L", (5, 4), 100)))
    assert gray.shape == (4, 5, 3) and gray.dtype == np.uint8 and (gray == 100).all()
    bilevel = decode_image(encode(Image.new("1", (3, 3), 1)))
    assert (bilevel == 255).all()
    rgba = decode_image(encode(Image.new("RGBA", (3, 3), (10, 20, 30, 0))))
    assert (rgba == 255).all()  # fully transparent -> white background
    opaque = decode_image(encode(Image.new("RGBA", (3, 3), (10, 20, 30, 255))))
    assert (opaque == [10, 20, 30]).all()
    la = decode_image(encode(Image.new("LA", (2, 2), (50, 255))))
    assert (la == 50).all()
    palette = Image.new("P", (2, 2), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    assert (decode_image(encode(palette)) == [200, 100, 50]).all()
    cmyk = decode_image(encode(Image.new("CMYK", (4, 4), (0, 255, 255, 0)), "JPEG"))
    assert cmyk.shape == (4, 4, 3) and cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 60
    deep = np.array([[0, 32768], [65535, 65535]], np.uint16)
    out = decode_image(encode(Image.fromarray(deep)))
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 128 and (out[1] == 255).all()


def test_exif_rotated_jpeg_is_upright():
    arr = np.zeros((30, 60, 3), np.uint8)
    arr[:, :30] = 255  # stored: left half white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    out = decode_image(encode(img, "JPEG", exif=exif, quality=95))
    assert out.shape == (60, 30, 3)  # portrait as displayed
    assert out[:25].mean() > 230 and out[35:].mean() < 25  # the white half is now on top


def test_decode_rejects_garbage_with_the_source_name():
    with pytest.raises(CorruptImageError, match="x.png: not an image file"):
        decode_image(b"not an image at all", "x.png")
    with pytest.raises(CorruptImageError, match="empty file"):
        decode_image(b"")


def test_image_folder_dataset(tmp_path):
    for cls in ("cat", "dog"):
        os.makedirs(tmp_path / cls)
        Image.new("RGB", (8, 8)).save(tmp_path / cls / "a.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = ImageFolderDataset(str(tmp_path), EVAL_OPS)
    assert ds.classes == ["cat", "dog"] and ds.labels == [0, 1] and len(ds) == 2
    assert ds[1][0].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="no images"):
        ImageFolderDataset(str(tmp_path / "cat"))


def test_truncated_image_is_refused_even_when_the_process_tolerates_truncation(
        tmp_path, monkeypatch):
    """PIL's LOAD_TRUNCATED_IMAGES is process-wide and importing ppdet's engine turns it on;
    the decoder still refuses a truncated file and leaves the process's setting as it was."""
    from PIL import ImageFile

    from ppcls_infer.decode import CorruptImageError, decode_image

    make_dataset(str(tmp_path), n=1, size=(64, 48))
    whole = open(os.path.join(str(tmp_path), "img", "0.jpg"), "rb").read()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(CorruptImageError, match="half.jpg"):
        decode_image(whole[: len(whole) // 2], "half.jpg")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    assert decode_image(whole, "whole.jpg").shape == (48, 64, 3)


def test_decoding_leaves_once_only_warnings_alone(tmp_path, monkeypatch):
    """A warning shown once per location (Paddle's BatchNorm warning on every training step)
    must stay shown once: changing warning filters, as warnings.catch_warnings() does on
    entry, resets that memory, and a decode per image made it print every iteration."""
    import warnings

    from ppcls_infer.decode import check_image_bytes, decode_image

    make_dataset(str(tmp_path), n=1, size=(64, 48))
    data = open(os.path.join(str(tmp_path), "img", "0.jpg"), "rb").read()
    resets = []
    monkeypatch.setattr(warnings, "_filters_mutated", lambda: resets.append(1))
    decode_image(data, "0.jpg")
    check_image_bytes(data, "0.jpg")
    assert resets == []


@pytest.mark.parametrize("size, nranks, batch", [(9, 2, 4), (7, 3, 2), (8, 2, 4), (2, 3, 1)])
def test_eval_sampler_over_ranks_draws_every_sample_once(size, nranks, batch):
    """Evaluation over several ranks: Paddle's DistributedBatchSampler pads the set to a
    multiple of the rank count (a sample counted twice); the eval sampler does not."""
    from ppcls_ext.engine.data.loader import UnpaddedDistributedBatchSampler

    drawn = []
    for rank in range(nranks):
        for shuffle in (False, True):
            sampler = UnpaddedDistributedBatchSampler(list(range(size)), batch, shuffle=shuffle,
                                                      num_replicas=nranks, rank=rank)
            batches = list(sampler)
            assert len(batches) == len(sampler) and all(len(b) <= batch for b in batches)
            if not shuffle:
                drawn += [i for b in batches for i in b]
    assert sorted(drawn) == list(range(size))


@pytest.mark.parametrize("where", ["DataLoader.Train.dataset", "DataLoader.Eval.dataset"])
def test_dataset_errors_name_their_section(where, tmp_path):
    """A missing image_root says whether it is the training or the evaluation set's."""
    from ppcls_ext.engine.data.loader import build_dataset
    from ppcls_ext.validation import MissingFileError

    with pytest.raises(MissingFileError) as exc:
        build_dataset({"name": "ImageNetDataset", "image_root": str(tmp_path / "none"),
                       "cls_label_path": str(tmp_path / "list.txt"), "transform_ops": None},
                      where)
    assert str(exc.value) == f"{where}.image_root '{tmp_path / 'none'}' is not a directory"
