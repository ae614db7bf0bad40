"""inference.yml written by us: what the paddleclas wheel's dump_infer_config writes, for every
pipeline PaddleClas's ops accept (the wheel dies with KeyError 'size' without a crop)."""
import copy

import pytest
import yaml

from engine_helpers import QUICK_START, load
from ppcls_ext.inference_yml import build_inference_config, write_inference_yml


@pytest.fixture
def config(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"{i} name {i}" for i in range(10)) + "\n")
    return load(QUICK_START, [f"Infer.PostProcess.class_id_map_file={labels}"])


def test_same_as_the_wheel_where_the_wheel_works(config, tmp_path):
    from ppcls_ext._ppcls import ppcls_module

    ppcls_module("utils.logger").init_logger()
    wheel_path = tmp_path / "wheel.yml"
    ppcls_module("utils.config").dump_infer_config(copy.deepcopy(dict(config)), str(wheel_path))
    wheel = yaml.safe_load(wheel_path.read_text())
    ours = build_inference_config(config, [3, 32, 32])
    assert ours["PreProcess"] == wheel["PreProcess"]
    assert ours["PostProcess"] == wheel["PostProcess"]
    assert ours["PostProcess"]["Topk"]["label_list"][:2] == ["name 0", "name 1"]
    assert ours["Global"] == {"model_name": "EConvNeXt_mini", "image_shape": [3, 32, 32]}


def test_resize_short_without_crop_is_written(config, tmp_path):
    """Case: Infer.transforms ResizeImage {resize_short: 36}, normalise, to-CHW, no CropImage:
    the wheel raised KeyError: 'size'."""
    from ppcls_ext._ppcls import ppcls_module

    config["Infer"]["transforms"][1] = {"ResizeImage": {"resize_short": 36}}
    with pytest.raises(KeyError, match="size"):  # the wheel's behaviour this module replaces
        ppcls_module("utils.config").dump_infer_config(copy.deepcopy(dict(config)),
                                                       str(tmp_path / "w.yml"))
    path = tmp_path / "inference.yml"
    write_inference_yml(build_inference_config(config, [3, 36, 36], {"quantized": "int8"}),
                        str(path))
    yml = yaml.safe_load(path.read_text())
    assert yml["PreProcess"]["transform_ops"] == [
        {"ResizeImage": {"resize_short": 36}},
        {"NormalizeImage": {"scale": 1 / 255.0, "mean": [0.485, 0.456, 0.406],
                            "std": [0.229, 0.224, 0.225], "order": "", "channel_num": 3}},
        {"ToCHWImage": None}]
    assert yml["Global"] == {"model_name": "EConvNeXt_mini", "image_shape": [3, 36, 36],
                             "quantized": "int8"}
    # the deploy predictor builds exactly these ops
    from ppcls_infer.preprocess import create_operators
    assert len(create_operators(yml["PreProcess"]["transform_ops"])) == 3


def test_hpi_dynamic_shape_and_label_file_errors(config, tmp_path):
    hpi = tmp_path / "hpi.yml"
    hpi.write_text(yaml.safe_dump({"Hpi": {"backend_config": {"paddle_tensorrt": {}}}}))
    config["Global"]["hpi_config_path"] = str(hpi)
    config["Infer"]["transforms"][1] = {"ResizeImage": {"resize_short": 36}}
    trt = build_inference_config(config, [3, 40, 40])["Hpi"]["backend_config"]["paddle_tensorrt"]
    assert trt == {"dynamic_shapes": {"x": [[1, 3, 40, 40]] * 3}, "max_batch_size": 1}
    (tmp_path / "gap.txt").write_text("0 a\n2 c\n")
    config["Infer"]["PostProcess"]["class_id_map_file"] = str(tmp_path / "gap.txt")
    with pytest.raises(ValueError, match=r"gap.txt: class ids must be 0..1"):
        build_inference_config(config, [3, 40, 40])
    (tmp_path / "bom.txt").write_bytes("\ufeff0 a\r\n1 b\r\n".encode("utf-8"))
    config["Infer"]["PostProcess"]["class_id_map_file"] = str(tmp_path / "bom.txt")
    assert build_inference_config(config, [3, 40, 40])["PostProcess"]["Topk"]["label_list"] == \
        ["a", "b"]
