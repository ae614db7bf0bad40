"""``inference.yml`` beside an exported classifier: PaddleClas's layout, written by us.

The paddleclas wheel's ``ppcls.utils.config.dump_infer_config`` (2.6.0) writes
``{Global: {model_name}?, Hpi?, PreProcess: {transform_ops}, PostProcess: {<name>: {...,
label_list}}}`` from the ``Infer`` section, but it reads ``CropImage.size`` or else
``ResizeImage.size`` only to fill TensorRT's dynamic shapes, and so dies with a raw
``KeyError: 'size'`` on an inference pipeline without a crop whose resize is
``resize_short`` (a pipeline PaddleClas's ops accept); it also wants ``NormalizeImage.scale``
as a ``"1.0/255.0"`` string and a label file where every line holds a space.

``write_inference_yml`` writes the same keys for every pipeline PaddleClas's ops accept:
``PreProcess`` = ``Infer.transforms`` without ``DecodeImage`` (``NormalizeImage`` with
``channel_num: 3`` and a float ``scale``, as the wheel writes it), ``PostProcess`` =
``Infer.PostProcess`` without ``name``/``class_id_map_file`` plus ``label_list`` (names in
class-id order), ``Global.model_name`` (``Global.pdx_model_name`` or ``Arch.name``: the name
PaddleX's ``create_model`` checks), ``Hpi`` from
``Global.hpi_config_path`` with the dynamic shape from the crop, the resize or, failing both,
``image_shape`` — and ``Global.image_shape`` (+ ``extra_global``) for the predictors' input
check. The file is written atomically.
"""
import copy
import os

import yaml

from ppcls_infer.cli import InvalidValueError
from ppcls_infer.postprocess import read_label_file, resolve_label_file
from ppcls_infer.preprocess import parse_scale
from .validation import ConfigError, MissingFileError


def _scale(value):
    """``NormalizeImage.scale``: a number or PaddleClas's ``"1.0/255.0"`` string -> float
    (``ppcls_infer.preprocess.parse_scale``, the predictor's own reading)."""
    try:
        return parse_scale(value)
    except InvalidValueError:
        raise ConfigError(f"Infer.transforms NormalizeImage.scale {value!r}: expected a "
                          "number or 'a/b' such as '1.0/255.0'") from None


def _dynamic_side(transforms, image_shape):
    """The square side TensorRT's dynamic shapes get, as the wheel picks it."""
    for name in ("CropImage", "ResizeImage"):
        op = next((t[name] for t in transforms if isinstance(t, dict) and name in t), None)
        size = (op or {}).get("size")
        if size is not None:
            return int(size[0] if isinstance(size, (list, tuple)) else size)
    return int(image_shape[-1])


def label_list(class_id_map_file):
    """Label names in class-id order from a ``<id> <name>`` file (BOM/CRLF tolerated);
    ids must be 0..K-1 because predictors index the list with the class id."""
    path = resolve_label_file(class_id_map_file)
    if path is None:
        raise MissingFileError(f"Infer.PostProcess.class_id_map_file {class_id_map_file!r} "
                               "does not exist")
    names = read_label_file(path)
    if sorted(names) != list(range(len(names))):
        raise ConfigError(f"{path}: class ids must be 0..{len(names) - 1} (one line each) to "
                          "become inference.yml's label_list")
    return [names[i] for i in range(len(names))]


def build_inference_config(config, image_shape, extra_global=None):
    """The ``inference.yml`` mapping (layout: module docstring); raises ``ValueError`` /
    ``FileNotFoundError`` naming the key before anything is written."""
    infer = (config.get("Infer") or {})
    if not infer.get("transforms"):
        raise ConfigError("the config needs an Infer section with transforms and PostProcess "
                          "(see configs/quick_start/EConvNeXt_mini_digits.yaml) to write "
                          "inference.yml")
    transforms = copy.deepcopy(list(infer["transforms"]))
    ops = []
    for op in transforms:
        if isinstance(op, dict) and "DecodeImage" in op:
            continue
        if isinstance(op, dict) and "NormalizeImage" in op:
            norm = dict(op["NormalizeImage"] or {})
            norm["channel_num"] = 3
            norm["scale"] = _scale(norm.get("scale", "1.0/255.0"))
            op = {"NormalizeImage": norm}
        ops.append(op)
    post = dict(infer.get("PostProcess") or {})
    name = post.pop("name", None)
    if not name:
        raise ConfigError("Infer.PostProcess.name is not set (e.g. Topk)")
    label_file = post.pop("class_id_map_file", None)
    if not label_file:
        raise ConfigError("Infer.PostProcess.class_id_map_file is needed to store label names "
                          "in inference.yml")
    post["label_list"] = label_list(label_file)
    g = config.get("Global") or {}
    out_global = {}
    model_name = g.get("pdx_model_name") or (config.get("Arch") or {}).get("name")
    if model_name:  # PaddleX's create_model checks it
        out_global["model_name"] = model_name
    out_global["image_shape"] = list(image_shape)
    out_global.update(extra_global or {})
    result = {"Global": out_global}
    if g.get("hpi_config_path"):
        with open(g["hpi_config_path"]) as f:
            hpi = (yaml.safe_load(f) or {}).get("Hpi") or {}
        side = _dynamic_side(transforms, image_shape)
        for backend in ("paddle_tensorrt", "tensorrt"):
            cfg = (hpi.get("backend_config") or {}).get(backend)
            if cfg is not None:
                cfg.setdefault("dynamic_shapes", {})["x"] = [[1, 3, side, side]] * 3
                cfg["max_batch_size"] = 1
        result["Hpi"] = hpi
    result["PreProcess"] = {"transform_ops": ops}
    result["PostProcess"] = {name: post}
    return result


def write_inference_yml(content, path):
    """Write a ``build_inference_config`` mapping to ``path`` atomically."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        yaml.safe_dump(content, f, sort_keys=False)
    os.replace(tmp, path)
