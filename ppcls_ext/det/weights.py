"""Which weights a detector takes, and what happens to those that do not fit.

PaddleDetection (release/2.6, ``ppdet/utils/checkpoint.py``) has two loaders:

* ``load_pretrain_weight`` (``Trainer.load_weights``: ``pretrain_weights`` for training, and
  ``weights`` for eval, infer and export): matches names by suffix and *skips* every tensor
  whose shape differs, one log line per tensor, leaving it at its initialisation;
* ``load_weight`` (``Trainer.resume_weights``, ``-r``): exact names, asserts that every model
  tensor is in the file, but hands shape mismatches to ``set_dict``, which skips them with a
  warning.

Skipping is right for fine-tuning (a COCO detector or a classification backbone seeding a
detector of another class count) and wrong everywhere else: evaluation, inference and export
with ``weights`` of another class count (or backbone size) predict with a head that was never
trained, after a warning that scrolls by. Here:

* ``weights`` (eval / infer / export) and ``-r`` must be a checkpoint of *this* detector:
  every model tensor by its exact name and shape (``load_weight``'s name rule plus shapes;
  entries the model lacks are ignored, as there). A head trained for another class count is
  one :class:`ClassCountError` naming the file, both class counts and ``-o num_classes=K``;
  any other tensor that is missing or of another shape is one ``WeightsFileError``
  (:func:`check_detector_weights`, :func:`load_detector_weights`).
* ``pretrain_weights`` (training) keeps PaddleDetection's suffix matching and skipping, with
  one summary line instead of a line per tensor (:func:`load_pretrain_state`).

The class count of a checkpoint is read from the head's classification convolutions
(PP-YOLOE's ``pred_cls``, YOLOv10's last ``cls`` convolution of each branch):
their output channels (:func:`class_layers`).
"""
import numpy as np
import paddle

from .ppdet_import import import_ppdet

import_ppdet()  # before any ppdet name: its import flips PIL's truncated-image flag
import ppdet.utils.checkpoint as ppdet_checkpoint  # noqa: E402
from ppdet.modeling.heads import PPYOLOEHead  # noqa: E402

from ..io import read_state_dict, read_weights  # noqa: E402
from ..io.errors import WeightsFileError  # noqa: E402
from .backbone import is_classification_state  # noqa: E402
from .yolov10.head import YOLOv10Head  # noqa: E402

logger = ppdet_checkpoint.logger


class ClassCountError(WeightsFileError):
    """Detector weights whose head was trained for another class count than the config's."""


def class_layers(model):
    """``(tower prefixes, classification conv names)`` of the detector's head.

    Tower prefixes: state-dict prefixes of the layers whose shapes may follow ``num_classes``
    (PP-YOLOE: ``pred_cls``; YOLOv10: the whole ``cls`` tower of both branches, whose width is
    ``max(c, min(num_classes, 100))``). Conv names: the convolutions whose output channels are
    the classes (weight ``[num_classes, C, k, k]``). Empty for other heads.
    """
    towers, convs = [], []
    for name, layer in model.named_sublayers():
        if isinstance(layer, PPYOLOEHead):
            towers.append(f"{name}.pred_cls.")
            convs += [f"{name}.pred_cls.{i}" for i in range(len(layer.pred_cls))]
        elif isinstance(layer, YOLOv10Head):
            for branch in ("one2one", "one2many"):
                cls = getattr(layer, branch).cls
                towers.append(f"{name}.{branch}.cls.")
                convs += [f"{name}.{branch}.cls.{i}.{len(tower) - 1}"
                          for i, tower in enumerate(cls)]
    return tuple(towers), convs


def _shape(value):
    return tuple(value.shape)


def _preview(items, n=3):
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def fit_report(model, state):
    """Compare ``state`` with ``model.state_dict()`` by exact name.

    Returns a dict: ``mismatched`` (names whose shape differs, with both shapes), ``missing``
    (model tensors the state lacks), ``unexpected`` (entries the model lacks), ``classes``
    (``(K, name, shape)``: the class count of the state's head, or None) and ``num_classes``
    (the model head's), ``in_class_layers`` (True when every mismatched or missing tensor lies
    in the head's class layers, :func:`class_layers`).
    """
    model_state = model.state_dict()
    mismatched = [k for k, v in model_state.items()
                  if k in state and _shape(state[k]) != _shape(v)]
    missing = [k for k in model_state if k not in state]
    towers, convs = class_layers(model)
    classes = num_classes = None
    for conv in convs:
        key = conv + ".weight"
        if key in state and len(_shape(state[key])) == 4:
            classes = (_shape(state[key])[0], key, list(_shape(state[key])))
            num_classes = _shape(model_state[key])[0]
            break
    return dict(mismatched=mismatched, missing=missing,
                unexpected=[k for k in state if k not in model_state], classes=classes,
                num_classes=num_classes, model_state=model_state,
                in_class_layers=bool(towers) and all(
                    k.startswith(towers) for k in mismatched + missing))


def check_detector_weights(model, state, path, what="weights"):
    """Refuse ``state`` unless every tensor of ``model`` is in it with its shape.

    ``what`` names the option in the messages (``"weights"``, ``"-r/--resume"``). Raises
    :class:`ClassCountError` when only the head's class layers differ and the class count
    does (one line: the file, the checkpoint's class count with the tensor it is read from,
    the config's ``num_classes``, what to do); ``WeightsFileError`` for any other missing or
    mismatched tensor (a classification checkpoint, another backbone size or detector).
    Returns the :func:`fit_report`.
    """
    report = fit_report(model, state)
    mismatched, missing = report["mismatched"], report["missing"]
    if not mismatched and not missing:
        return report
    classes = report["classes"]
    if classes and classes[0] != report["num_classes"] and report["in_class_layers"]:
        k, key, shape = classes
        raise ClassCountError(
            f"{what} {path}: its head was trained for {k} classes ({key} {shape}) but the "
            f"config has num_classes: {report['num_classes']}; evaluation, inference and export "
            f"use the head as trained: pass -o num_classes={k} (with that data set's labels) or "
            f"the weights trained for {report['num_classes']} classes (only training from "
            "pretrain_weights starts a head of another class count afresh)")
    if is_classification_state(state):
        raise WeightsFileError(
            f"{what} {path} is an E-ConvNeXt classification checkpoint, not a detector's: it "
            "seeds training as pretrain_weights (or EConvNeXt.pretrained); "
            f"{what} needs a checkpoint of tools/det/train.py")
    model_state = report["model_state"]
    details = [f"{k} {list(_shape(state[k]))} vs model {list(_shape(model_state[k]))}"
               for k in mismatched]
    problems = []
    if mismatched:
        problems.append(f"{len(mismatched)} tensors of another shape ({_preview(details)})")
    if missing:
        problems.append(f"{len(missing)} of its {len(model_state)} tensors missing "
                        f"({_preview(missing)})")
    raise WeightsFileError(
        f"{what} {path} does not fit this detector: {' and '.join(problems)}; weights of "
        "another model or size? use the config they were trained with")


def _cast(value, like):
    """``value`` as a tensor of ``like``'s dtype (PaddleDetection's loaders' cast)."""
    if isinstance(value, np.ndarray):
        value = paddle.to_tensor(value)
    return value.astype(like.dtype) if value.dtype != like.dtype else value


def load_detector_weights(trainer, weights, what="weights"):
    """``Trainer.load_weights(weights)`` for eval, infer and export, all or nothing.

    Reads ``weights`` once (``ppcls_ext.io.read_weights``: ``.pdparams``/``.pdema``/
    ``.safetensors``, suffix optional, the pickle allow-list), checks it with
    :func:`check_detector_weights` and loads every model tensor from it. Returns the path read.
    """
    if getattr(trainer, "is_loaded_weights", False):  # as Trainer.load_weights (slim)
        return None
    state, path = read_weights(weights)
    report = check_detector_weights(trainer.model, state, path, what)
    model_state = report["model_state"]
    trainer.model.set_dict({k: _cast(state[k], v) for k, v in model_state.items()})
    trainer.start_epoch = 0
    if report["unexpected"]:
        logger.info(f"{len(report['unexpected'])} entries of {path} are not in the model "
                    f"(ignored): {_preview(report['unexpected'])}")
    logger.info(f"Finish loading model weights: {path}")
    return path


def check_resume(trainer, checkpoint):
    """Refuse ``-r checkpoint`` of another class count or model before PaddleDetection's
    ``load_weight`` skips its mismatched tensors (it reads ``{prefix}.pdparams``; this reads
    that file once more, through the allow-list)."""
    path = ppdet_checkpoint._strip_postfix(checkpoint) + ".pdparams"
    check_detector_weights(trainer.model, read_state_dict(path), path, "-r/--resume")


def load_pretrain_state(model, state, path):
    """The tail of PaddleDetection's ``load_pretrain_weight`` on a state dict already read
    (``pretrain_weights``: fine-tuning): its suffix matching, a cast to each tensor's dtype,
    ``set_dict``; tensors of another shape are skipped as there, reported in one line (the
    head's class layers of another class count: the normal fine-tuning case)."""
    report = fit_report(model, state)
    skipped = set(report["mismatched"])
    model_state = report["model_state"]
    matched = ppdet_checkpoint.match_state_dict(
        model_state, {k: v for k, v in state.items() if k not in skipped})
    model.set_dict({k: _cast(v, model_state[k]) for k, v in matched.items()})
    towers = class_layers(model)[0]
    head = sorted(k for k in skipped if k.startswith(towers)) if towers else []
    other = sorted(skipped - set(head))
    parts = [f"pretrain_weights {path}: loaded {len(matched)}/{len(model_state)} tensors"]
    if head:
        k = report["classes"][0] if report["classes"] else "?"
        parts.append(f"{len(head)} tensors of the head's class layers ({k} classes in the "
                     f"file, num_classes {report['num_classes']}) start from initialisation "
                     "(fine-tuning to a new class count)")
    if other:
        parts.append(f"{len(other)} other tensors of another shape skipped "
                     f"({_preview(other)}): weights of another model or size?")
    logger.info("; ".join(parts))


def skip_pretrain(cfg):
    """With ``weights`` given (eval, infer, export) nothing is loaded before them: clear the
    backbone section's ``pretrained`` (the E-ConvNeXt backbone, PaddleDetection's ConvNeXt,
    Swin and ViT load it while the model is built) and ``pretrain_weights`` (which only
    training loads). Returns the keys cleared, e.g. ``["EConvNeXt.pretrained"]``."""
    cleared = []
    section = cfg.get(cfg.get("architecture")) or {}
    name = section.get("backbone") if hasattr(section, "get") else None
    backbone = cfg.get(name) if isinstance(name, str) else None
    if backbone is not None and backbone.get("pretrained"):
        backbone["pretrained"] = None
        cleared.append(f"{name}.pretrained")
    if cfg.get("pretrain_weights"):
        cfg["pretrain_weights"] = None
        cleared.append("pretrain_weights")
    return cleared
