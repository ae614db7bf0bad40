"""Convert a Pascal VOC data set to one COCO json (for COCO mAP and COCO-only tools).

    python tools/det/voc2coco.py --voc_dir dataset/sonar --output dataset/sonar/all.json \
        [--label_list dataset/sonar/label_list.txt] [--pair_list dataset/sonar/all.txt]
    python tools/det/voc2coco.py --anno_list dataset/sonar/val.txt --output val.json \
        [--label_list ...]

``--voc_dir``: images and XMLs matched by file name (``Annotations/`` + ``JPEGImages/`` or side
by side); ``--anno_list``: PaddleDetection's ``<image> <xml>`` list (paths relative to the
list's folder, or ``--dataset_dir``). Classes: ``--label_list`` (line i = category i + 1) or
the sorted names found in the XMLs. ``--pair_list`` also writes the pairs as PaddleDetection's
VOC list. Unreadable XMLs and boxes without area are skipped, counted and named; extra XML
blocks (``<sonar>``, ``<source>`` ...) are ignored. The json's ``file_name`` is relative to
the images' common folder, printed as the ``image_dir`` to configure.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--voc_dir", help="VOC folder (pairs matched by file name)")
    src.add_argument("--anno_list", help="PaddleDetection's '<image> <xml>' list")
    p.add_argument("--dataset_dir", default=None,
                   help="folder the --anno_list paths are relative to (default: the list's)")
    p.add_argument("--label_list", default=None, help="class names, one a line")
    p.add_argument("--output", required=True, help="COCO json to write")
    p.add_argument("--pair_list", default=None,
                   help="also write the '<image> <xml>' list (paths relative to --voc_dir)")
    return p.parse_args(argv)


def _atomic_write(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def run(argv=None):
    from ppcls_ext.det.voc import (find_voc_pairs, read_label_list, read_pair_list,
                                   voc_to_coco)

    args = parse_args(argv)
    if args.voc_dir:
        if not os.path.isdir(args.voc_dir):
            raise FileNotFoundError(f"--voc_dir {args.voc_dir!r} is not a directory")
        pairs, orphans = find_voc_pairs(args.voc_dir)
        if orphans:
            print(f"skipped {len(orphans)} XML file(s) without an image of the same name: "
                  + ", ".join(os.path.relpath(p, args.voc_dir) for p in orphans[:5]),
                  file=sys.stderr)
        base = args.voc_dir
    else:
        base = args.dataset_dir or os.path.dirname(os.path.abspath(args.anno_list))
        if not os.path.isfile(args.anno_list):
            raise FileNotFoundError(f"--anno_list {args.anno_list!r} does not exist")
        pairs = [(img, xml) for _, img, xml in read_pair_list(args.anno_list, base)]
        missing = [p for pair in pairs for p in pair if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"{len(missing)} file(s) named in {args.anno_list} are "
                                    f"missing, first: {missing[0]!r}")
    if not pairs:
        raise ValueError(f"no image with a VOC XML of the same name in {base!r}")
    labels = read_label_list(args.label_list, strict=False) if args.label_list else None
    coco, report = voc_to_coco(pairs, labels, log=lambda line: print(line, file=sys.stderr))
    if not coco["images"]:
        raise ValueError(f"none of the {len(pairs)} XML files could be read")
    _atomic_write(args.output, json.dumps(coco))
    if args.pair_list:
        _atomic_write(args.pair_list, "".join(
            f"{os.path.relpath(img, base)} {os.path.relpath(xml, base)}\n"
            for img, xml in pairs))
    print(f"{args.output}: {report['images']} images, {report['boxes']} boxes, "
          f"{report['categories']} categories ({', '.join(c['name'] for c in coco['categories'])})"
          f"; {len(report['unreadable'])} unreadable XML, {len(report['skipped_boxes'])} boxes "
          f"skipped; file names relative to {report['image_root']}")
    return coco, report


def main(argv=None):
    from ppcls_ext.det.data_check import DatasetError

    try:
        run(argv)
    except (DatasetError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
