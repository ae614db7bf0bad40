"""Check a detection data set (COCO or Pascal VOC) before PaddleDetection trains or evaluates.

PaddleDetection 2.6's ``COCODataSet.parse_dataset`` fails late or silently on bad data: a
missing annotation file is an assertion deep in the loader, a missing image is a warning per
file and then skipped, an image without boxes is dropped without a word, a category id absent
from ``categories`` is a bare ``KeyError``, and a ``num_classes`` above the category count
trains a whole epoch before evaluation dies on ``KeyError: <class id>``.
``check_coco_dataset`` reads the same fields first and decides; it accepts every variant
``COCODataSet`` accepts and refuses early only what cannot work:

=========================================  ======================================
Each error is one ``DatasetError`` line naming the file, the id and what would be valid.
Only the JSON/XML and the image files' existence are read (no decoding): a second or two for
COCO val2017-sized sets.
"""
import json
import os

from .data_errors import DatasetError, check_num_classes
from .voc import check_voc_dataset, read_label_list


def _load_json(path, role):
    if not os.path.isfile(path):
        raise DatasetError(f"{role} annotation file {path!r} does not exist (anno_path is "
                           "relative to dataset_dir; a COCO instances_*.json is expected)")
    try:
        with open(path, encoding="utf-8") as f:
            coco = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{role} annotation file {path!r} is not readable JSON: {exc}")
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list) \
            or not isinstance(coco.get("categories"), list):
        raise DatasetError(f"{role} annotation file {path!r} is not COCO format: it needs "
                           "'images' and 'categories' lists (and 'annotations')")
    return coco


NAMED = 5  # how many skipped boxes a summary names
EPS = 1e-5  # COCODataSet's minimum box side


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_image(image, path):
    width, height = image.get("width"), image.get("height")
    if not (_is_number(width) and _is_number(height) and width > 0 and height > 0):
        raise DatasetError(f"{path}: image id {image.get('id')!r} ({image.get('file_name')}) "
                           f"has width/height {width!r}/{height!r}; valid: positive numbers")


def _box_kind(ann, image, path, tolerance):
    """"ok", "past_border" or "degenerate" for a box COCODataSet reads; raises on a box it
    cannot read or that lies entirely outside the image."""
    bbox = ann.get("bbox")
    name = image.get("file_name")
    where = f"{path}: annotation id {ann.get('id')!r} (image id {ann.get('image_id')!r}, {name})"
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        raise DatasetError(f"{where} has bbox {bbox!r}; valid: [x, y, width, height] numbers")
    if not any(bbox):
        return "degenerate"  # COCODataSet skips an all-zero bbox without a word
    if not _is_number(ann.get("area")):
        raise DatasetError(f"{where} has no numeric 'area' (PaddleDetection's COCODataSet "
                           f"reads it: KeyError); valid: area = width * height of the box")
    x, y, w, h = bbox
    if ann["area"] <= 0 or w <= EPS or h <= EPS:
        return "degenerate"
    width, height = image["width"], image["height"]
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise DatasetError(f"{where} has bbox {bbox} (x, y, w, h) entirely outside the "
                           f"{width}x{height} image; valid: x < {width}, y < {height}, "
                           "x + w > 0, y + h > 0 (is it [x1, y1, x2, y2] instead of COCO's "
                           "[x, y, w, h]?)")
    if x < -tolerance or y < -tolerance or x + w > width + tolerance \
            or y + h > height + tolerance:
        return "past_border"
    return "ok"


def check_coco_dataset(dataset_dir, image_dir, anno_path, num_classes=None, role="train",
                       allow_empty=False, tolerance=1.0, check_images=True, load_crowd=False):
    """Validate one COCO data set as PaddleDetection's ``COCODataSet`` would read it.

    Returns a summary {"images", "boxes", "categories", "empty_skipped",
    "degenerate_skipped", "degenerate_examples", "crowd_skipped", "past_border"}; raises
    ``DatasetError`` (one line) on the first defect. ``tolerance`` is how many pixels a box
    may pass the image border before it is counted in ``past_border``."""
    path = os.path.join(dataset_dir or "", anno_path or "")
    coco = _load_json(path, role)
    cat_ids = [c.get("id") for c in coco["categories"] if isinstance(c, dict)]
    for cid in cat_ids:
        if not _is_int(cid):
            raise DatasetError(f"{path}: category id {cid!r} is not an integer; "
                               "PaddleDetection (pycocotools' loadCats) needs integer "
                               "category ids: number the categories 1..K")
    if num_classes is not None:
        check_num_classes(num_classes, len(cat_ids), path)
    valid_cats = set(cat_ids)
    images = {}
    for image in coco["images"]:
        if not isinstance(image, dict) or "id" not in image or not image.get("file_name"):
            raise DatasetError(f"{path}: image entry {image!r} needs 'id' and 'file_name'")
        if not _is_int(image["id"]):
            raise DatasetError(f"{path}: image id {image['id']!r} ({image['file_name']}) is "
                               "not an integer; PaddleDetection feeds image ids to the model "
                               "as an integer tensor: number the images (voc2coco.py does)")
        _check_image(image, path)
        images[image["id"]] = image
    annotations = coco.get("annotations")
    if annotations is None and role == "TrainDataset":
        raise DatasetError(f"{path} has no 'annotations': images only, nothing to train on")
    boxes, degenerate, crowd, past = {}, [], 0, 0
    for ann in annotations or []:
        if not isinstance(ann, dict) or "id" not in ann or "iscrowd" not in ann:
            raise DatasetError(f"{path}: annotation {_clip(ann)} needs 'id' and 'iscrowd' "
                               "(pycocotools indexes both: KeyError); valid: iscrowd 0 or 1")
        image = images.get(ann.get("image_id"))
        if image is None:
            raise DatasetError(f"{path}: annotation id {ann.get('id')!r} names image id "
                               f"{ann.get('image_id')!r}, which is not in 'images'")
        if ann.get("category_id") not in valid_cats:
            raise DatasetError(f"{path}: annotation id {ann.get('id')!r} (image "
                               f"{image['file_name']}) has category_id "
                               f"{ann.get('category_id')!r}; valid: the ids of 'categories' "
                               f"{_short(sorted(cat_ids, key=str))}")
        if ann.get("ignore", False) or (ann["iscrowd"] and not load_crowd):
            crowd += 1
            continue
        if "bbox" not in ann:
            continue  # COCODataSet skips it too
        kind = _box_kind(ann, image, path, tolerance)
        if kind == "degenerate":
            degenerate.append(f"annotation id {ann.get('id')!r} ({image['file_name']}, "
                              f"bbox {ann.get('bbox')})")
            continue
        past += kind == "past_border"
        boxes[image["id"]] = boxes.get(image["id"], 0) + 1
    if check_images:
        root = os.path.join(dataset_dir or "", image_dir or "")
        missing = [img["file_name"] for img in images.values()
                   if not os.path.isfile(os.path.join(root, img["file_name"]))]
        if missing:
            raise DatasetError(f"{len(missing)} of {len(images)} images listed in {path} are "
                               f"missing under {root!r}, first: {missing[0]!r} (image_dir is "
                               "relative to dataset_dir)")
    empty = 0 if allow_empty else sum(1 for i in images if i not in boxes)
    if len(images) - empty == 0:
        raise DatasetError(f"{path} has no image with a box ({len(images)} images); "
                           f"{role} needs annotated images")
    return {"images": len(images) - empty, "boxes": sum(boxes.values()),
            "categories": len(cat_ids), "empty_skipped": empty,
            "degenerate_skipped": len(degenerate), "degenerate_examples": degenerate[:NAMED],
            "crowd_skipped": crowd, "past_border": past}


def _clip(obj, n=80):
    text = repr(obj)
    return text if len(text) <= n else text[:n] + "...}"


def _short(ids, n=12):
    return str(ids) if len(ids) <= n else f"[{', '.join(map(str, ids[:n]))}, ...]"


def _dataset_fields(dataset):
    """(kind, fields) of a data set entry of a ppdet config, kind "coco", "voc" or "images"
    (``ImageFolder``, the TestDataset): a built data set or, before ``create``, its dict
    with ``name`` (defaults filled from the class's signature); else None."""
    import inspect

    from ppdet.data import source
    from ppdet.data.source.coco import COCODataSet
    from ppdet.data.source.dataset import ImageFolder
    from ppdet.data.source.voc import VOCDataSet

    if isinstance(dataset, (COCODataSet, VOCDataSet, ImageFolder)):
        cls, fields = type(dataset), dict(vars(dataset))
    elif isinstance(dataset, dict):
        cls = getattr(source, str(dataset.get("name")), None)
        if not inspect.isclass(cls):
            return None
        defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
        fields = dict(defaults, **dataset)
    else:
        return None
    if issubclass(cls, COCODataSet):
        kind = "coco" if str(fields.get("anno_path") or "").endswith(".json") else None
    elif issubclass(cls, VOCDataSet):
        kind = "voc"
    elif issubclass(cls, ImageFolder):
        kind = "images"
    else:
        kind = None
    return (kind, fields) if kind else None


def check_test_categories(cfg, log=print):
    """The TestDataset's category source (``anno_path``: a COCO json or a label list) against
    ``num_classes``, as tools/det/infer.py needs before drawing class names. Returns the
    category count, or None when the config names no such file."""
    entry = _dataset_fields(cfg.get("TestDataset"))
    if not entry:
        return None
    fields = entry[1]
    anno = fields.get("anno_path")
    if not anno:
        return None
    path = os.path.join(fields.get("dataset_dir") or "", anno)
    if not os.path.isfile(path):
        return None  # PaddleDetection falls back to the metric's default categories
    if path.endswith(".json"):
        count = len([c for c in _load_json(path, "TestDataset")["categories"]
                     if isinstance(c, dict)])
    else:
        count = len(read_label_list(path, strict=False))
    check_num_classes(cfg.get("num_classes"), count, path)
    return count


def check_config_datasets(cfg, modes=("TrainDataset", "EvalDataset"), log=print):
    """Check the COCO and VOC data sets named in a PaddleDetection config before they are built.

    Image-only data sets (TestDataset) are left to PaddleDetection. Prints one summary line
    per data set, with the counts of what PaddleDetection will skip (images without boxes,
    boxes without area, first few named; crowd boxes).
    """
    num_classes = cfg.get("num_classes")
    summaries = {}
    for mode in modes:
        entry = _dataset_fields(cfg.get(mode))
        if entry is None or entry[0] == "images":
            continue
        kind, f = entry
        if kind == "coco":
            summary = check_coco_dataset(f.get("dataset_dir"), f.get("image_dir"),
                                         f.get("anno_path"), num_classes, role=mode,
                                         allow_empty=bool(f.get("allow_empty")),
                                         load_crowd=bool(f.get("load_crowd")))
        else:
            summary = check_voc_dataset(f.get("dataset_dir"), f.get("image_dir"),
                                        f.get("anno_path"), f.get("label_list"), num_classes,
                                        role=mode, allow_empty=bool(f.get("allow_empty")))
        summaries[mode] = summary
        log(summary_line(mode, summary))
    return summaries


def summary_line(mode, summary):
    """One line: what was checked and what PaddleDetection will skip."""
    notes = []
    if summary.get("empty_skipped"):
        notes.append(f"{summary['empty_skipped']} images without boxes skipped")
    if summary.get("degenerate_skipped"):
        shown = "; ".join(summary["degenerate_examples"])
        more = "; ..." if summary["degenerate_skipped"] > len(summary["degenerate_examples"]) \
            else ""
        notes.append(f"{summary['degenerate_skipped']} boxes without area skipped ({shown}{more})")
    if summary.get("crowd_skipped"):
        notes.append(f"{summary['crowd_skipped']} crowd/ignored boxes not trained")
    if summary.get("past_border"):
        notes.append(f"{summary['past_border']} boxes pass the image border")
    return (f"{mode}: {summary['images']} images, {summary['boxes']} boxes, "
            f"{summary['categories']} categories checked" + "".join(f", {n}" for n in notes))


__all__ = ["DatasetError", "check_coco_dataset", "check_config_datasets",
           "check_test_categories", "summary_line"]
