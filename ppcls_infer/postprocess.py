"""Top-k post-processing and batching for classification inference, without Paddle.

``Topk`` returns what the paddleclas wheel's ``deploy/python/postprocess.Topk`` returns
(``class_ids``, ``scores`` rounded to 5 decimals, ``label_names``, ``file_name``) for the
same keys; a label file that does not exist is an error here instead of the wheel's printed
warning and empty names.
"""
import importlib.util
import os

import numpy as np

from .decode import CorruptImageError
from .sources import read_lines
from .cli import InvalidValueError, MissingPathError


def resolve_label_file(path):
    """``path`` if it exists, else the same relative path inside the installed paddleclas
    wheel (PaddleClas configs name ``ppcls/utils/imagenet1k_label_list.txt`` relative to a
    checkout, and the wheel ships it), else None. Locating the wheel does not import it."""
    if not path or os.path.isfile(path):
        return path or None
    spec = importlib.util.find_spec("paddleclas")
    if spec is None or not spec.submodule_search_locations:
        return None
    in_wheel = os.path.join(list(spec.submodule_search_locations)[0], path)
    return in_wheel if os.path.isfile(in_wheel) else None


def read_label_file(path, delimiter=" "):
    """Lines ``<class id><delimiter><name>`` -> {id: name} (text rules of
    ``sources.read_lines``: BOM, CRLF, blank lines and ``#`` comments)."""
    names = {}
    for number, line in read_lines(path):
        key, _, name = line.partition(delimiter)
        try:
            names[int(key)] = name.strip()
        except ValueError:
            raise InvalidValueError(f"{path}:{number}: expected '<class id> <name>', got "
                                    f"{line!r}") from None
    return names


class Topk:
    def __init__(self, topk=1, class_id_map_file=None, delimiter=None, label_list=None):
        if not isinstance(topk, int) or topk < 1:
            raise InvalidValueError(f"Topk.topk must be a positive integer, got {topk!r}")
        self.topk = topk
        if label_list:
            self.class_id_map = list(label_list)
        elif class_id_map_file:
            self.class_id_map = read_label_file(class_id_map_file, delimiter or " ")
        else:
            self.class_id_map = None

    def __call__(self, x, file_names=None):
        if file_names is not None and len(file_names) != x.shape[0]:
            raise ValueError(f"{x.shape[0]} outputs for {len(file_names)} file names")
        results = []
        for idx, probs in enumerate(x):
            index = probs.argsort(axis=0)[-self.topk:][::-1].astype("int32")
            ids = [i.item() for i in index]
            result = {"class_ids": ids,
                      "scores": np.around([probs[i].item() for i in ids], decimals=5).tolist()}
            if file_names is not None:
                result["file_name"] = file_names[idx]
            result["label_names"] = ([self.class_id_map[i] for i in ids]
                                     if self.class_id_map is not None else [])
            results.append(result)
        return results


def build_postprocess(post_cfg, where="PostProcess"):
    """``{name: Topk, topk, class_id_map_file | label_list, delimiter}`` -> ``Topk``."""
    cfg = dict(post_cfg or {"name": "Topk", "topk": 5})
    name = cfg.pop("name", "Topk")
    if name != "Topk":
        raise InvalidValueError(f"{where}.name {name!r}: only Topk is supported")
    unknown = sorted(set(cfg) - {"topk", "class_id_map_file", "delimiter", "label_list"})
    if unknown:
        raise InvalidValueError(f"{where}: unknown Topk key(s) {unknown}; valid keys: topk, "
                                "class_id_map_file, delimiter, label_list")
    path = cfg.get("class_id_map_file")
    if path and not cfg.get("label_list"):
        cfg["class_id_map_file"] = resolve_label_file(path)
        if cfg["class_id_map_file"] is None:
            raise MissingPathError(f"{where}.class_id_map_file {path!r} does not exist "
                                   "(lines '<class id> <name>')")
    return Topk(**cfg)


def iter_batches(paths, load, batch_size, on_error):
    """``(float32 batch, its paths)`` of up to ``batch_size`` images ``load(path)`` can read;
    an image it cannot decode goes to ``on_error(path, exc)`` and is left out. Shared by
    ``tools/infer.py`` and deploy/python/predict_cls.py."""
    batch, names = [], []
    for path in paths:
        try:
            batch.append(load(path))
        except (CorruptImageError, OSError) as exc:
            on_error(path, exc)
            continue
        names.append(path)
        if len(batch) == batch_size:
            yield np.stack(batch).astype(np.float32), names
            batch, names = [], []
    if batch:
        yield np.stack(batch).astype(np.float32), names


def clip_boxes(boxes, height, width):
    """Detection rows (class, score, x1, y1, x2, y2, ...) of one image -> a copy with x in
    ``[0, width]`` and y in ``[0, height]`` (pixels), the rule of PaddleDetection's two-stage
    post-process, applied to every head by ``ppcls_ext.det.postprocess``."""
    boxes = np.array(boxes, dtype=np.float32, copy=True)
    if boxes.size:
        boxes[:, 2:6:2] = np.clip(boxes[:, 2:6:2], 0, width)
        boxes[:, 3:6:2] = np.clip(boxes[:, 3:6:2], 0, height)
    return boxes
