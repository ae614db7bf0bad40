"""Tiny COCO-format detection data and configs for the detection tests (made in tmp dirs)."""
import json
import os

import numpy as np

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "configs", "detection")
COLOURS = ((230, 40, 40), (40, 200, 40))
TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "det")
# low score threshold: after a few iterations every score is near the 0.01 prior
NMS = """PPYOLOEHead:
  static_assigner_epoch: 1
  nms: {name: MultiClassNMS, nms_top_k: 100, keep_top_k: 20, score_threshold: 0.001, nms_threshold: 0.7}
"""


def make_tiny_coco(root, n_train=8, n_val=4, size=96, seed=0):
    """Images with one or two filled squares (class = colour), COCO json for train and val."""
    import cv2
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val)):
        images, annotations = [], []
        for i in range(n):
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            name = f"{split}_{i}.png"
            for _ in range(int(rng.integers(1, 3))):
                side = int(rng.integers(size // 4, size // 2))
                x, y = (int(v) for v in rng.integers(0, size - side, 2))
                cls = int(rng.integers(0, 2))
                img[y:y + side, x:x + side] = COLOURS[cls][::-1]  # cv2 writes BGR
                annotations.append(dict(id=len(annotations) + 1, image_id=i + 1,
                                        category_id=cls + 1, bbox=[x, y, side, side],
                                        area=side * side, iscrowd=0))
            cv2.imwrite(os.path.join(root, "images", name), img)
            images.append(dict(id=i + 1, file_name=name, width=size, height=size))
        coco = dict(images=images, annotations=annotations,
                    categories=[dict(id=1, name="red"), dict(id=2, name="green")])
        with open(os.path.join(root, f"{split}.json"), "w") as f:
            json.dump(coco, f)
    return root


def voc_datasets(data_root):
    """The dataset sections of a tiny config for make_tiny_voc's folder."""
    return f"""TrainDataset:
  name: VOCDataSet
  dataset_dir: {data_root}
  anno_path: train.txt
  label_list: label_list.txt
  data_fields: ['image', 'gt_bbox', 'gt_class', 'difficult']
EvalDataset:
  name: VOCDataSet
  dataset_dir: {data_root}
  anno_path: val.txt
  label_list: label_list.txt
  data_fields: ['image', 'gt_bbox', 'gt_class', 'difficult']
TestDataset:
  name: ImageFolder
  dataset_dir: {data_root}
  anno_path: label_list.txt
"""


def tiny_config(tmp_path, data_root, base="ppyoloe_s_econvnext_mini_36e_coco.yml", size=96,
                epochs=1, extra="", datasets=None, num_classes=2):
    """A config file that _BASE_s on a shipped config, shrunk to the tiny data set.
    ``datasets``: the dataset sections' text (default: make_tiny_coco's COCO files)."""
    datasets = datasets or f"""TrainDataset:
  name: COCODataSet
  dataset_dir: {data_root}
  image_dir: images
  anno_path: train.json
  data_fields: ['image', 'gt_bbox', 'gt_class', 'is_crowd']
EvalDataset:
  name: COCODataSet
  dataset_dir: {data_root}
  image_dir: images
  anno_path: val.json
  allow_empty: true
TestDataset:
  name: ImageFolder
  dataset_dir: {data_root}
  anno_path: val.json
"""
    text = f"""_BASE_: ['{os.path.join(CONFIG_DIR, base)}']
use_gpu: false
num_classes: {num_classes}
epoch: {epochs}
log_iter: 1
snapshot_epoch: 1
save_dir: {tmp_path}/output
worker_num: 0
eval_height: {size}
eval_width: {size}
eval_size: [{size}, {size}]
weights: {tmp_path}/output/tiny/model_final
EConvNeXt: {{pretrained: ~}}
LearningRate:
  base_lr: 0.001
  schedulers:
    - name: PiecewiseDecay
      gamma: 0.1
      milestones: [100]
      use_warmup: false
{datasets}TrainReader:
  sample_transforms:
    - Decode: {{}}
    - RandomFlip: {{}}
  batch_transforms:
    - BatchRandomResize: {{target_size: [{size}], random_size: true, random_interp: false, keep_ratio: false}}
    - NormalizeImage: {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}
    - Permute: {{}}
    - PadGT: {{}}
  batch_size: 4
  shuffle: true
  drop_last: true
  use_shared_memory: false
  collate_batch: true
EvalReader:
  sample_transforms:
    - Decode: {{}}
    - Resize: {{target_size: [{size}, {size}], keep_ratio: false, interp: 2}}
    - NormalizeImage: {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}
    - Permute: {{}}
  batch_size: 2
TestReader:
  inputs_def:
    image_shape: [3, {size}, {size}]
  sample_transforms:
    - Decode: {{}}
    - Resize: {{target_size: [{size}, {size}], keep_ratio: false, interp: 2}}
    - NormalizeImage: {{mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], is_scale: true}}
    - Permute: {{}}
  batch_size: 1
{extra}"""
    path = os.path.join(str(tmp_path), "tiny.yml")
    with open(path, "w") as f:
        f.write(text)
    return path


SONAR_BLOCK = """  <sonar>
    <range>30</range>
    <azimuth>130</azimuth>
    <elevation>20</elevation>
    <soundspeed>1500</soundspeed>
    <frequency>900000</frequency>
  </sonar>
"""


def voc_xml(filename, width, height, objects, sonar=True):
    """A VOC annotation; ``sonar``: the sonar set's block (range, angles, frequency) before
    ``<size>``. ``objects``: (name, xmin, ymin, xmax, ymax)."""
    objs = "".join(f"""  <object>
    <name>{name}</name>
    <pose>Unspecified</pose>
    <truncated>0</truncated>
    <difficult>0</difficult>
    <bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>
  </object>
""" for name, x1, y1, x2, y2 in objects)
    return (f"<annotation>\n  <folder>sonar</folder>\n  <filename>{filename}</filename>\n"
            + (SONAR_BLOCK if sonar else "")
            + f"  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n"
              f"    <depth>3</depth>\n  </size>\n  <segmented>0</segmented>\n{objs}"
              "</annotation>\n")


VOC_CLASSES = ("red", "green")


def make_tiny_voc(root, n_train=8, n_val=4, size=96, seed=0):
    """A Pascal VOC folder as the sonar set ships it: 3-channel .bmp images in JPEGImages/,
    XMLs with a ``<sonar>`` block in Annotations/, PaddleDetection's ``train.txt``/``val.txt``
    (``JPEGImages/x.bmp Annotations/x.xml``) and ``label_list.txt``. Class = colour of a
    filled square, as make_tiny_coco. Returns the box count per split."""
    import cv2
    rng = np.random.default_rng(seed)
    for sub in ("JPEGImages", "Annotations"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    counts = {}
    for split, n in (("train", n_train), ("val", n_val)):
        lines, boxes = [], 0
        for i in range(n):
            stem = f"{split}_{i:03d}"
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            objects = []
            for _ in range(int(rng.integers(1, 3))):
                side = int(rng.integers(size // 4, size // 2))
                x, y = (int(v) for v in rng.integers(0, size - side, 2))
                cls = int(rng.integers(0, 2))
                img[y:y + side, x:x + side] = COLOURS[cls][::-1]
                objects.append((VOC_CLASSES[cls], x, y, x + side, y + side))
            cv2.imwrite(os.path.join(root, "JPEGImages", stem + ".bmp"), img)
            with open(os.path.join(root, "Annotations", stem + ".xml"), "w") as f:
                f.write(voc_xml(stem + ".bmp", size, size, objects))
            lines.append(f"JPEGImages/{stem}.bmp Annotations/{stem}.xml")
            boxes += len(objects)
        with open(os.path.join(root, f"{split}.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        counts[split] = boxes
    with open(os.path.join(root, "label_list.txt"), "w") as f:
        f.write("\n".join(VOC_CLASSES) + "\n")
    return counts


_RUNNERS = {"train": ("train_parser", "run_train"), "eval": ("eval_parser", "run_eval"),
            "infer": ("infer_parser", "run_infer"),
            "export_model": ("export_parser", "run_export")}


# (backend, oneDNN) pairs every exported detector is checked on against dygraph
PREDICTOR_CASES = [("paddle", True), ("paddle", False), ("onnxruntime", False),
                   ("openvino", False)]


def run_det_tool(name, *argv):
    """A detection tool's work function in this process (the console script / tools/det
    script minus the error policy), so its return value can be checked."""
    from ppcls_ext.det import commands

    make_parser, work = (getattr(commands, n) for n in _RUNNERS[name])
    return work(make_parser().parse_args(list(argv)))


def spread_outputs(model):
    """At initialisation PP-YOLOE scores every anchor 0.01 with the same box (zero prediction
    weights, and features fading to ~1e-9 through std-0.02 convolutions): He-initialised
    convolutions and small random prediction weights give distinct scores and boxes, so
    parity is not tested on ties."""
    import paddle

    paddle.seed(1)
    he = paddle.nn.initializer.KaimingNormal()
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.Conv2D):
            he(layer.weight)
    for conv, std in [(c, 3e-3) for c in model.yolo_head.pred_cls] + \
            [(c, 1e-3) for c in model.yolo_head.pred_reg]:
        conv.weight.set_value(paddle.randn(conv.weight.shape) * std)
