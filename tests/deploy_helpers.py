"""Fixtures shared by the deploy tests: the digits set and one exported mini (session scope,
so that the export runs once for all deploy test files)."""
import os

import paddle
import pytest

from engine_helpers import QUICK_START, ROOT, load
from ppcls_ext import EConvNeXt_mini
from ppcls_ext.export import export, to_onnx

DEPLOY_PY = os.path.join(ROOT, "deploy", "python")


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    from ppcls_ext.engine.data.digits import prepare_digits

    root = str(tmp_path_factory.mktemp("digits"))
    prepare_digits(root)
    return root


def export_mini(out, digits, add_softmax):
    """A digits mini with non-trivial BN statistics saved to ``out/w.pdparams`` and exported
    to ``out/inference`` (+ ONNX) as tools/export_model.py --onnx does; returns
    ``(model_dir, model in eval mode, config)``."""
    model = EConvNeXt_mini(class_num=10)
    model.train()
    with paddle.no_grad():
        for _ in range(3):
            model(paddle.randn([8, 3, 32, 32]) * 2 + 0.5)
    paddle.save(model.state_dict(), str(out / "w.pdparams"))
    config = load(QUICK_START, [f"Global.pretrained_model={out}/w",
                                f"Global.save_inference_dir={out}/inference",
                                f"Global.infer_add_softmax={add_softmax}",
                                f"Infer.PostProcess.class_id_map_file={digits}/label_list.txt"])
    model_dir = export(config)
    to_onnx(model_dir)
    model.eval()
    return model_dir, model, config


@pytest.fixture(scope="session")
def exported(digits, tmp_path_factory):
    """A mini with non-trivial BN statistics, exported as logits (no softmax) + ONNX."""
    model_dir, model, config = export_mini(tmp_path_factory.mktemp("export"), digits, False)
    return dict(dir=model_dir, model=model, config=config)
