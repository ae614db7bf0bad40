"""Model and layer names in configs resolve by lookup, never by ``eval`` (threat model in
docs/security.md). Each payload touches a file in tmp_path; the tests assert it does not
exist and that the build was refused with a line naming the string."""
import os
import re

import pytest

import ppcls_ext
from ppcls_ext import safe_names
from ppcls_ext.registry import build_model


@pytest.fixture(autouse=True, scope="module")
def _registered():
    ppcls_ext.register()  # what every tool does first


def _expr(marker):
    return f"__import__('os').system('touch {marker}') or ResNet18"


def _config(arch):
    return {"Global": {"device": "cpu"}, "Arch": arch}


def _cases(marker):
    expr = _expr(marker)
    return {
        "RecModel.Backbone.name": {"name": "RecModel", "Backbone": {"name": expr},
                                   "Head": {"name": "FC", "embedding_size": 512,
                                            "class_num": 3}},
        "DistillationModel.models.name": {"name": "DistillationModel",
                                          "models": [{"Teacher": {"name": expr}}]},
        "AttentionModel.models.name": {"name": "AttentionModel",
                                       "models": [{"Teacher": {"name": expr}}]},
        "PPLCNet.lr_mult_list": {"name": "PPLCNet_x0_25", "class_num": 3,
                                 "lr_mult_list": f"__import__('os').system('touch {marker}')"},
        "ViT.norm_layer": {"name": "ViT_small_patch16_224", "class_num": 3,
                           "norm_layer": f"__import__('os').system('touch {marker}') or "
                                         "nn.LayerNorm"},
    }


@pytest.mark.parametrize("route", list(_cases("x")))
def test_arch_names_are_not_evaluated(tmp_path, route):
    marker = tmp_path / "pwned"
    arch = _cases(marker)[route]
    with pytest.raises(safe_names.UnsafeNameError, match=re.escape("never evaluated")):
        build_model(_config(arch))
    assert not marker.exists()


def test_registry_name_must_be_a_model_not_a_helper(tmp_path):
    """``load_dygraph_pretrain`` is callable in ``ppcls.arch`` but no model: refused."""
    arch = {"name": "RecModel", "Backbone": {"name": "load_dygraph_pretrain"}}
    with pytest.raises(safe_names.UnsafeNameError, match="registered model name"):
        build_model(_config(arch))


def test_legitimate_names_still_resolve():
    model = build_model(_config({"name": "RecModel",
                                 "Backbone": {"name": "EConvNeXt_mini", "class_num": 0},
                                 "Head": {"name": "FC", "embedding_size": 0, "class_num": 3}}))
    assert type(model.backbone).__name__ == "EConvNeXt"
    lcnet = build_model(_config({"name": "PPLCNet_x0_25", "class_num": 3,
                                 "lr_mult_list": "[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]"}))
    assert lcnet.lr_mult_list == [1.0] * 6
    vit = build_model(_config({"name": "ViT_small_patch16_224", "class_num": 3,
                               "norm_layer": "nn.LayerNorm"}))
    assert type(vit.norm).__name__ == "LayerNorm"


def test_every_eval_site_of_the_installed_libraries_is_patched():
    """A new eval() in an upgraded wheel fails here until its module is listed."""
    import importlib.util

    found = set()
    for package, prefix in (("paddleclas", "paddleclas."), ("ppdet", "")):
        root = os.path.dirname(importlib.util.find_spec(package).origin)
        if package == "paddleclas":
            root = os.path.join(root, "ppcls")
        for folder, _, files in os.walk(root):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    if not re.search(r"(?<![\w.])eval\(", re.sub(r"def eval\(", "", f.read())):
                        continue
                rel = os.path.relpath(path, os.path.dirname(root))[:-3].replace(os.sep, ".")
                found.add(prefix + rel.removesuffix(".__init__"))
    listed = {f"paddleclas.ppcls.{m}" for m in safe_names.PPCLS_MODULES} | \
        set(safe_names.PPDET_MODULES)
    # the wheel's override parser is replaced by the project's own -o parser
    assert found - listed == {"paddleclas.ppcls.utils.config"}
