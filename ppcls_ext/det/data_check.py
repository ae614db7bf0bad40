"""Check a COCO-format detection data set before PaddleDetection trains or evaluates on it.

PaddleDetection 2.6's ``COCODataSet.parse_dataset`` fails late or silently on bad data: a
missing annotation file is an assertion deep in the loader, a missing image is a warning per
file and then skipped, an image without boxes is dropped without a word, a box outside the
image trains on garbage, and a category id absent from ``categories`` is a bare ``KeyError``.
``check_coco_dataset`` reads the same fields first and decides:

===================================  ===============================================
missing / unreadable annotation      error
annotation without a usable box      error (names annotation id, image, valid range)
box outside the image (> tol px)     error (names annotation id, image, box, size)
category_id not among categories     error (names annotation id and the valid ids)
categories != num_classes            error (names both)
missing image file                   error (names the first, counts all)
image without boxes                  counted skip (PaddleDetection drops it too,
                                     unless the data set sets ``allow_empty``)
===================================  ===============================================

Each error is one ``DatasetError`` line naming the file, the id and what would be valid.
Only the JSON and the image files' existence are read (no decoding): a second or two for
COCO val2017-sized sets.
"""
import json
import os


class DatasetError(ValueError):
    """A detection data set that cannot be trained or evaluated on as it is."""


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


def _check_box(ann, image, path, tolerance):
    bbox = ann.get("bbox")
    name = image.get("file_name")
    where = f"{path}: annotation id {ann.get('id')} (image id {ann.get('image_id')}, {name})"
    if not (isinstance(bbox, list) and len(bbox) == 4 and
            all(isinstance(v, (int, float)) for v in bbox)):
        raise DatasetError(f"{where} has bbox {bbox!r}; valid: [x, y, width, height] numbers")
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        raise DatasetError(f"{where} has bbox {bbox} of zero or negative size; valid: "
                           "width > 0 and height > 0")
    width, height = image.get("width"), image.get("height")
    if not (isinstance(width, (int, float)) and isinstance(height, (int, float))
            and width > 0 and height > 0):
        raise DatasetError(f"{path}: image id {image.get('id')} ({name}) has width/height "
                           f"{width!r}/{height!r}; valid: positive numbers")
    if x < -tolerance or y < -tolerance or x + w > width + tolerance \
            or y + h > height + tolerance:
        raise DatasetError(f"{where} has bbox {bbox} (x, y, w, h) outside the {width}x{height} "
                           f"image; valid: 0 <= x, x + w <= {width}, 0 <= y, y + h <= {height} "
                           "(is it [x1, y1, x2, y2] instead of COCO's [x, y, w, h]?)")


def check_coco_dataset(dataset_dir, image_dir, anno_path, num_classes=None, role="train",
                       allow_empty=False, tolerance=1.0, check_images=True):
    """Validate one COCO data set as PaddleDetection's ``COCODataSet`` would read it.

    Returns a summary {"images", "boxes", "categories", "empty_skipped"}; raises
    ``DatasetError`` (one line) on the first defect. ``tolerance`` is how many pixels a box
    may pass the image border (rounding in converted annotations)."""
    path = os.path.join(dataset_dir or "", anno_path or "")
    coco = _load_json(path, role)
    cat_ids = sorted(c.get("id") for c in coco["categories"] if isinstance(c, dict))
    if num_classes is not None and len(cat_ids) != num_classes:
        # fewer categories than num_classes trains a head with classes the data never has
        # (and changes the model's size and GFLOPs): as wrong as too many
        fix = "or remove the extra categories" if len(cat_ids) > num_classes \
            else "(the detector's class count must equal the data set's)"
        raise DatasetError(f"{path} has {len(cat_ids)} categories but num_classes is "
                           f"{num_classes}; set num_classes: {len(cat_ids)} in the config {fix}")
    valid_cats = set(cat_ids)
    images = {}
    for image in coco["images"]:
        if not isinstance(image, dict) or "id" not in image or not image.get("file_name"):
            raise DatasetError(f"{path}: image entry {image!r} needs 'id' and 'file_name'")
        images[image["id"]] = image
    boxes = {}
    for ann in coco.get("annotations") or []:
        if ann.get("iscrowd", 0) or ann.get("ignore", False):
            continue
        image = images.get(ann.get("image_id"))
        if image is None:
            raise DatasetError(f"{path}: annotation id {ann.get('id')} names image id "
                               f"{ann.get('image_id')!r}, which is not in 'images'")
        if ann.get("category_id") not in valid_cats:
            raise DatasetError(f"{path}: annotation id {ann.get('id')} (image {image['file_name']}"
                               f") has category_id {ann.get('category_id')!r}; valid: the "
                               f"ids of 'categories' {_short(cat_ids)}")
        _check_box(ann, image, path, tolerance)
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
            "categories": len(cat_ids), "empty_skipped": empty}


def _short(ids, n=12):
    return str(ids) if len(ids) <= n else f"[{', '.join(map(str, ids[:n]))}, ...]"


def _coco_fields(dataset):
    """(dataset_dir, image_dir, anno_path, allow_empty) of a COCO data set entry of a ppdet
    config: a built ``COCODataSet`` or, before ``create``, its dict with ``name``; else None."""
    import inspect

    from ppdet.data import source
    from ppdet.data.source.coco import COCODataSet

    if isinstance(dataset, COCODataSet):
        fields = vars(dataset)
    elif isinstance(dataset, dict):
        cls = getattr(source, str(dataset.get("name")), None)
        if not (inspect.isclass(cls) and issubclass(cls, COCODataSet)):
            return None
        defaults = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
        fields = dict(defaults, **dataset)
    else:
        return None
    if not str(fields.get("anno_path") or "").endswith(".json"):
        return None
    return (fields.get("dataset_dir"), fields.get("image_dir"), fields.get("anno_path"),
            bool(fields.get("allow_empty", False)))


def check_config_datasets(cfg, modes=("TrainDataset", "EvalDataset"), log=print):
    """Check the COCO data sets named in a PaddleDetection config before they are built.

    Data sets of other formats (VOC, image-only TestDataset) are left to PaddleDetection.
    Prints one summary line per data set, with the count of images skipped for having no box.
    """
    num_classes = cfg.get("num_classes")
    summaries = {}
    for mode in modes:
        fields = _coco_fields(cfg.get(mode))
        if fields is None:
            continue
        dataset_dir, image_dir, anno_path, allow_empty = fields
        summary = check_coco_dataset(dataset_dir, image_dir, anno_path, num_classes, role=mode,
                                     allow_empty=allow_empty)
        summaries[mode] = summary
        skipped = (f", {summary['empty_skipped']} images without boxes skipped"
                   if summary["empty_skipped"] else "")
        log(f"{mode}: {summary['images']} images, {summary['boxes']} boxes, "
            f"{summary['categories']} categories checked{skipped}")
    return summaries
