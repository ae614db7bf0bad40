"""Pascal VOC detection data: reading the XML, finding image/XML pairs, checking a data set as
PaddleDetection's ``VOCDataSet`` reads it, and converting to COCO json.

PaddleDetection 2.6 (``ppdet/data/source/voc.py``) reads VOC through
    * ``anno_path``: a list of ``<image path> <xml path>`` lines, both relative to
      ``dataset_dir/image_dir`` (split at whitespace, so neither path may hold a space);
    * ``label_list``: one class name a line, line ``i`` is class ``i`` (read as plain text:
      a UTF-8 byte-order mark would become part of the first name);
    * per XML: ``<size><width>/<height>``, and per ``<object>``: ``<name>``, an optional
      ``<difficult>`` and ``<bndbox>`` ``xmin ymin xmax ymax`` (pixels). Any other element
      (``<sonar>`` with range, angles and frequency, ``<source>``, ``<segmented>`` ...) is
      ignored; only direct children named ``size``/``object`` are read.
    * boxes are clipped to ``[0, width - 1] x [0, height - 1]``; a box left without area is
      skipped with a warning; an image whose XML has no object is dropped unless
      ``allow_empty``.

``check_voc_dataset`` refuses, with one line naming the file, what PaddleDetection would
crash on or train wrongly (unreadable XML, missing ``<size>``, a class name not in the label
list, a box entirely outside the image, a path with a space, a missing file, a label list with
a BOM or a blank line inside it) and counts, naming the first few, what it skips
(degenerate boxes). ``voc_to_coco`` writes the COCO json that PaddleDetection's
``tools/x2coco.py`` writes for VOC (categories 1..K in label order, ``bbox = [xmin, ymin,
xmax - xmin, ymax - ymin]``), with boxes clipped to the image and degenerate ones skipped.

No Paddle or ppdet import: ``tools/det/voc2coco.py`` runs without them.
"""
import os
import xml.etree.ElementTree as ET

from ppcls_infer.sources import IMAGE_EXTENSIONS, list_folder, read_lines

from .data_errors import DatasetError, check_num_classes

NAMED = 5  # how many skipped boxes a summary names


def read_label_list(path, strict=True):
    """Class names of a ``label_list.txt`` (line i = class i).

    ``strict``: refuse what PaddleDetection's ``VOCDataSet`` would misread (a BOM, a blank
    line before the last name, a first name ``background``, which its VOC metric drops);
    otherwise read leniently (``sources.read_lines``). Duplicates are refused either way."""
    if not os.path.isfile(path):
        raise DatasetError(f"label_list {path!r} does not exist (one class name a line; "
                           "label_list is relative to dataset_dir)")
    if strict:
        with open(path, "rb") as f:
            raw = f.read()
        if raw.startswith(b"\xef\xbb\xbf"):
            raise DatasetError(f"label_list {path} starts with a UTF-8 byte-order mark, which "
                               "PaddleDetection reads as part of the first class name; save "
                               "it as UTF-8 without BOM")
        lines = [line.strip() for line in raw.decode("utf-8", "replace").splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        if "" in lines:
            raise DatasetError(f"label_list {path}: line {lines.index('') + 1} is blank; "
                               "PaddleDetection would make it a class: remove it")
        names = lines
    else:
        names = [line for _, line in read_lines(path)]
    if not names:
        raise DatasetError(f"label_list {path} holds no class name")
    if strict and names[0] == "background":
        raise DatasetError(f"label_list {path}: the first class is 'background', which "
                           "PaddleDetection's VOC metric drops (class ids would shift); "
                           "remove that line")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DatasetError(f"label_list {path} names {dup} more than once")
    return names


def parse_voc_xml(path):
    """One VOC XML -> {"filename", "width", "height", "objects": [(name, difficult,
    (xmin, ymin, xmax, ymax)), ...]}; ``DatasetError`` naming the file when unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable VOC XML ({exc})") from None
    size = root.find("size")
    try:
        width = float(size.findtext("width"))
        height = float(size.findtext("height"))
    except (AttributeError, TypeError, ValueError):
        raise DatasetError(f"{path}: no numeric <size><width>/<height>; PaddleDetection needs "
                           "them (the image size in pixels)") from None
    objects = []
    for i, obj in enumerate(root.findall("object")):
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        try:
            coords = tuple(float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            raise DatasetError(f"{path}: object {i} ({name!r}) has no numeric "
                               "<bndbox><xmin>/<ymin>/<xmax>/<ymax>") from None
        difficult = obj.findtext("difficult")
        objects.append((name, int(float(difficult)) if difficult else 0, coords))
    return {"filename": root.findtext("filename"), "width": width, "height": height,
            "objects": objects}


def classify_box(coords, width, height, x2_limit_offset=1.0):
    """(kind, clipped box): ``"ok"``, ``"degenerate"`` (no area once clipped, skipped as
    PaddleDetection does) or ``"outside"`` (entirely outside the image: refused).
    Clipping follows ``VOCDataSet``: ``x2 <= width - 1``, ``y2 <= height - 1``."""
    x1, y1, x2, y2 = coords
    if x1 >= width or y1 >= height or x2 <= 0 or y2 <= 0:
        if x2 > x1 and y2 > y1:
            return "outside", coords
    cx1, cy1 = max(0.0, x1), max(0.0, y1)
    cx2, cy2 = min(width - x2_limit_offset, x2), min(height - x2_limit_offset, y2)
    if cx2 > cx1 and cy2 > cy1:
        return "ok", (cx1, cy1, cx2, cy2)
    return "degenerate", coords


def _skip_note(skipped):
    if not skipped:
        return ""
    shown = "; ".join(skipped[:NAMED])
    return f"{shown}{'; ...' if len(skipped) > NAMED else ''}"


def read_pair_list(list_path, base):
    """PaddleDetection's VOC ``anno_path`` list -> [(line, image path, xml path)]; refuses
    a line that is not exactly two fields (a space inside a path)."""
    pairs = []
    for lineno, line in read_lines(list_path):
        fields = line.split()
        if len(fields) != 2:
            raise DatasetError(f"{list_path}:{lineno}: {line!r} is not '<image> <xml>' "
                               f"(2 fields, got {len(fields)}); PaddleDetection splits at "
                               "spaces, so paths may not contain one: rename the files")
        pairs.append((f"{list_path}:{lineno}", os.path.join(base, fields[0]),
                      os.path.join(base, fields[1])))
    return pairs


def check_voc_dataset(dataset_dir, image_dir, anno_path, label_list, num_classes=None,
                      role="train", allow_empty=False, check_images=True):
    """Validate one VOC data set as PaddleDetection's ``VOCDataSet`` reads it.

    Returns {"images", "boxes", "categories", "empty_skipped", "degenerate_skipped",
    "degenerate_examples"}; raises ``DatasetError`` (one line) on the first defect."""
    base = os.path.join(dataset_dir or "", image_dir or "")
    list_path = os.path.join(dataset_dir or "", anno_path or "")
    if not os.path.isfile(list_path):
        raise DatasetError(f"{role} anno_path {list_path!r} does not exist (a list of "
                           "'<image> <xml>' lines relative to dataset_dir/image_dir)")
    if not label_list:
        raise DatasetError(f"{role}: VOCDataSet without label_list uses the 20 Pascal VOC "
                           "classes; set label_list: label_list.txt (one class a line)")
    names = read_label_list(os.path.join(dataset_dir or "", label_list))
    check_num_classes(num_classes, len(names), os.path.join(dataset_dir or "", label_list))
    valid = set(names)
    pairs = read_pair_list(list_path, base)
    if not pairs:
        raise DatasetError(f"{list_path} lists no image")
    missing = [(w, p) for w, img, xml in pairs for p in (img, xml) if not os.path.isfile(p)]
    if missing and check_images:
        raise DatasetError(f"{len(missing)} file(s) named in {list_path} are missing, first: "
                           f"{missing[0][0]}: {missing[0][1]!r} (paths are relative to "
                           "dataset_dir/image_dir)")
    images = boxes = empty = 0
    degenerate = []
    for where, _, xml in pairs:
        ann = parse_voc_xml(xml)
        kept = 0
        for name, _, coords in ann["objects"]:
            if name not in valid:
                raise DatasetError(f"{xml}: class {name!r} is not in the label list "
                                   f"({len(names)} names: {_short(names)})")
            kind, _ = classify_box(coords, ann["width"], ann["height"])
            if kind == "outside":
                raise DatasetError(f"{xml}: box {list(coords)} ({name}) lies entirely outside "
                                   f"the {ann['width']:g}x{ann['height']:g} image; valid: "
                                   "xmin < width, ymin < height, xmax > 0, ymax > 0")
            if kind == "degenerate":
                degenerate.append(f"{os.path.basename(xml)} {name} {list(coords)}")
            else:
                kept += 1
        if not ann["objects"] and not allow_empty:
            empty += 1
            continue
        images += 1
        boxes += kept
    if images == 0:
        raise DatasetError(f"{list_path}: no image with a box ({len(pairs)} listed); "
                           f"{role} needs annotated images")
    return {"images": images, "boxes": boxes, "categories": len(names), "empty_skipped": empty,
            "degenerate_skipped": len(degenerate), "degenerate_examples": degenerate[:NAMED]}


def _short(items, n=12):
    return str(list(items)) if len(items) <= n else f"[{', '.join(map(str, items[:n]))}, ...]"


def find_voc_pairs(voc_dir):
    """(image, xml) pairs of a VOC folder, matched by file stem: ``Annotations/`` +
    ``JPEGImages/`` (Pascal VOC's layout) or images and XMLs anywhere under ``voc_dir``
    (e.g. side by side). Images are found by ``ppcls_infer.sources``'s rules. Returns
    (pairs, xml files without an image)."""
    listing = list_folder(voc_dir)
    by_stem = {}
    for path in listing.images:
        by_stem.setdefault(os.path.splitext(os.path.relpath(path, voc_dir))[0], path)
        by_stem.setdefault("@" + os.path.splitext(os.path.basename(path))[0], path)
    pairs, orphans = [], []
    for path in listing.ignored:
        if not path.lower().endswith(".xml"):
            continue
        rel = os.path.splitext(os.path.relpath(path, voc_dir))[0]
        image = by_stem.get(rel) or by_stem.get("@" + os.path.basename(rel))
        (pairs.append((image, path)) if image else orphans.append(path))
    return pairs, orphans


def voc_to_coco(pairs, labels=None, image_root=None, log=print):
    """VOC (image, xml) pairs -> (COCO dict, report).

    ``labels``: class names in id order (a label list), or None to take the sorted names
    found in the XMLs. ``file_name`` is the image path relative to ``image_root`` (default:
    the images' common folder). Unreadable XMLs are skipped and named, as are degenerate
    boxes; a class name outside ``labels`` is an error. Image ids 1..N in pair order,
    category ids 1..K in label order, box ids 1..M."""
    parsed, unreadable = [], []
    for image, xml in pairs:
        try:
            parsed.append((image, xml, parse_voc_xml(xml)))
        except DatasetError as exc:
            unreadable.append(str(exc))
    if labels is None:
        labels = sorted({name for _, _, ann in parsed for name, _, _ in ann["objects"]})
    cat_id = {name: i + 1 for i, name in enumerate(labels)}
    if image_root is None:
        image_root = os.path.commonpath([os.path.dirname(os.path.abspath(i))
                                         for i, _, _ in parsed]) if parsed else ""
    coco = {"images": [], "annotations": [], "type": "instances",
            "categories": [{"supercategory": "none", "id": cat_id[n], "name": n}
                           for n in labels]}
    degenerate = []
    for image_id, (image, xml, ann) in enumerate(parsed, 1):
        coco["images"].append({"id": image_id, "width": ann["width"], "height": ann["height"],
                               "file_name": os.path.relpath(os.path.abspath(image), image_root)
                               .replace(os.sep, "/")})
        for name, difficult, coords in ann["objects"]:
            if name not in cat_id:
                raise DatasetError(f"{xml}: class {name!r} is not in the label list "
                                   f"{_short(labels)}")
            kind, box = classify_box(coords, ann["width"], ann["height"], x2_limit_offset=0)
            if kind != "ok":
                degenerate.append(f"{os.path.basename(xml)} {name} {list(coords)} ({kind})")
                continue
            w, h = box[2] - box[0], box[3] - box[1]
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": image_id,
                "category_id": cat_id[name], "bbox": [box[0], box[1], w, h], "area": w * h,
                "iscrowd": 0, "ignore": 0, "difficult": difficult})
    report = {"images": len(parsed), "boxes": len(coco["annotations"]),
              "categories": len(labels), "unreadable": unreadable, "skipped_boxes": degenerate,
              "image_root": image_root}
    for line in unreadable[:NAMED]:
        log(f"skipped: {line}")
    if degenerate:
        log(f"skipped {len(degenerate)} box(es) without area or outside the image: "
            f"{_skip_note(degenerate)}")
    return coco, report


__all__ = ["IMAGE_EXTENSIONS", "check_voc_dataset", "classify_box",
           "find_voc_pairs", "parse_voc_xml", "read_label_list", "read_pair_list",
           "voc_to_coco"]
