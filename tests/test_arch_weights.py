"""Weights: pretrained loading (paths, head mismatch, bad files) and the authors' converter."""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from ppcls_ext.arch import EConvNeXt_mini, EConvNeXt_tiny
from ppcls_ext.io import load_pretrained
from weights_helpers import authors_naming

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _outputs(model, x):
    model.eval()
    with paddle.no_grad():
        return model(x).numpy()


def test_pretrained_path_with_or_without_suffix(tmp_path):
    src = EConvNeXt_mini(class_num=5)
    paddle.save(src.state_dict(), str(tmp_path / "w.pdparams"))
    x = paddle.randn([1, 3, 32, 32])
    for path in (str(tmp_path / "w.pdparams"), str(tmp_path / "w")):
        dst = EConvNeXt_mini(class_num=5, pretrained=path)
        np.testing.assert_allclose(_outputs(dst, x), _outputs(src, x), atol=1e-6)



def test_other_class_count_skips_only_the_head(tmp_path, ppcls_warnings):
    src = EConvNeXt_mini(class_num=1000)
    paddle.save(src.state_dict(), str(tmp_path / "w.pdparams"))
    dst = EConvNeXt_mini(class_num=10)
    report = load_pretrained(dst, str(tmp_path / "w"))
    assert sorted(k.split(":")[0] for k in report["skipped_head"]) == ["head.bias",
                                                                        "head.weight"]
    assert any("Classifier not loaded" in m for m in ppcls_warnings)
    np.testing.assert_array_equal(dst.stages[2].conv3.conv.weight.numpy(),
                                  src.stages[2].conv3.conv.weight.numpy())


def test_missing_corrupt_and_wrong_variant_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pdparams"):
        EConvNeXt_mini(pretrained=str(tmp_path / "nope"))
    bad = tmp_path / "bad.pdparams"
    bad.write_bytes(b"definitely not a pickle")
    with pytest.raises(ValueError, match="corrupt"):
        EConvNeXt_mini(pretrained=str(bad))
    paddle.save(EConvNeXt_tiny().state_dict(), str(tmp_path / "tiny.pdparams"))
    with pytest.raises(ValueError, match="shape mismatch outside the classifier"):
        EConvNeXt_mini(pretrained=str(tmp_path / "tiny.pdparams"))


def _convert(src, dst, *extra):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_weights.py"),
                           "--src", src, "--dst", dst, *extra],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.integration  # runs the converter as a process
def test_convert_authors_checkpoint_reproduces_outputs(tmp_path):
    ref = EConvNeXt_mini(class_num=10)
    authors = authors_naming(ref.state_dict())
    authors["some.extra.key"] = np.zeros([3], "float32")
    paddle.save(authors, str(tmp_path / "authors.pdparams"))
    result = _convert(str(tmp_path / "authors.pdparams"), str(tmp_path / "ours.pdparams"),
                      "--arch", "EConvNeXt_mini")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "UNMAPPED source key: some.extra.key" in result.stdout
    assert "dropped (unused by the reference model): stages.0.blocks.0.gamma" in result.stdout
    loaded = EConvNeXt_mini(class_num=10, pretrained=str(tmp_path / "ours.pdparams"))
    x = paddle.randn([2, 3, 32, 32])
    np.testing.assert_allclose(_outputs(loaded, x), _outputs(ref, x), atol=1e-5)


@pytest.mark.integration  # runs the converter as a process
def test_convert_fails_on_shape_misfit_and_writes_nothing(tmp_path):
    authors = authors_naming(EConvNeXt_tiny(class_num=10).state_dict())
    paddle.save(authors, str(tmp_path / "authors.pdparams"))
    result = _convert(str(tmp_path / "authors.pdparams"), str(tmp_path / "ours.pdparams"),
                      "--arch", "EConvNeXt_mini")
    assert result.returncode == 2
    assert "SHAPE MISMATCH" in result.stdout and "wrong --arch" in result.stderr
    assert not (tmp_path / "ours.pdparams").exists()


def test_pretrained_url_goes_through_paddleclas_download(tmp_path, monkeypatch):
    from paddleclas.ppcls.utils import download

    src = EConvNeXt_mini(class_num=3)
    paddle.save(src.state_dict(), str(tmp_path / "remote.pdparams"))
    seen = []

    def fake_download(url, md5sum=None):  # no network here: stand in for the cache
        seen.append(url)
        return str(tmp_path / "remote.pdparams")

    monkeypatch.setattr(download, "get_weights_path_from_url", fake_download)
    EConvNeXt_mini(class_num=3, pretrained="https://example.org/econvnext_mini.pdparams")
    assert seen == ["https://example.org/econvnext_mini.pdparams"]
