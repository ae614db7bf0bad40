"""One rule for a checkpoint whose classifier has another class count: only training drops it
(fine-tuning); eval, infer, export and quantization refuse it, naming both shapes.

Reported: tools/eval.py with a 10-class best_model and -o Arch.class_num=1000 printed top-1
0.00000 after a warning; tools/infer.py died on KeyError: 727 in the label map; export wrote a
random 1000-way head and the predictor died with IndexError."""
import os

import paddle
import pytest

from engine_helpers import QUICK_START, load, tiny_overrides
from ppcls_ext import EConvNeXt_mini

MESSAGE = (r"w\.pdparams: its classifier has 10 classes \(head\.weight \[768, 10\]\) but "
           r"the model is built for 3 \(\[768, 3\]\)")


@pytest.fixture(scope="module")
def ten_class(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    paddle.save(EConvNeXt_mini(class_num=10).state_dict(), str(out / "w.pdparams"))
    return str(out / "w.pdparams")


def test_loader_refuses_outside_fine_tuning(ten_class):
    from ppcls_ext.io.loader import load_pretrained

    model = EConvNeXt_mini(class_num=3)
    with pytest.raises(ValueError, match=MESSAGE + r".*set Arch\.class_num=10"):
        load_pretrained(model, ten_class)
    report = load_pretrained(model, ten_class, fine_tune=True)
    assert [k.split(":")[0] for k in report["skipped_head"]] == ["head.weight", "head.bias"]
    assert list(model.state_dict()["head.weight"].shape) == [768, 3]
    fits = EConvNeXt_mini(class_num=10)
    assert not load_pretrained(fits, ten_class)["skipped_head"]


@pytest.mark.parametrize("mode", ["eval", "infer"])
def test_eval_and_infer_refuse(data, tmp_path, ten_class, mode):
    from ppcls_ext.engine import Engine

    config = load(QUICK_START, tiny_overrides(data, str(tmp_path)) + [
        f"Global.pretrained_model={ten_class}"])
    with pytest.raises(ValueError, match=MESSAGE):
        Engine(config, mode)


def test_training_fine_tunes(data, tmp_path, ten_class, ppcls_warnings):
    from ppcls_ext.engine import Engine

    config = load(QUICK_START, tiny_overrides(data, str(tmp_path)) + [
        f"Global.pretrained_model={ten_class}"])
    engine = Engine(config, "train")
    assert list(engine.model.state_dict()["head.weight"].shape) == [768, 3]
    assert any("Classifier not loaded" in m and "fine-tuning" in m for m in ppcls_warnings)


def test_export_and_quant_post_refuse(data, tmp_path, ten_class):
    from ppcls_ext.export import export

    config = load(QUICK_START, tiny_overrides(data, str(tmp_path)) + [
        f"Global.pretrained_model={ten_class}",
        f"Global.save_inference_dir={tmp_path}/inference"])
    with pytest.raises(ValueError, match=MESSAGE):
        export(config)
    assert not os.path.exists(tmp_path / "inference" / "inference.pdiparams")
    from ppcls_ext.slim.ptq import quantize_post
    with pytest.raises(ValueError, match=MESSAGE):
        quantize_post(config, calib_num=4, synthetic=True)
