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

Same as the console script ``ppcls-det-voc2coco`` (code: ``ppcls_ext.det.commands.voc2coco``).
"""
from ppcls_ext.det.commands import voc2coco as main

if __name__ == "__main__":
    main()
