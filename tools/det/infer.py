"""Detect objects in images and draw them (PaddleDetection's tools/infer.py command line).

    python tools/det/infer.py -c CFG -o weights=output/<name>/best_model \
        --infer_img img.jpg | --infer_dir images/ [--output_dir output] [--draw_threshold 0.5]

Writes each image with its boxes (score >= draw_threshold) drawn into ``--output_dir``, and
with ``--save_results true`` a bbox.json of all detections.

Same as the console script ``ppcls-det-infer`` (code: ``ppcls_ext.det.commands.infer``).
"""
from ppcls_ext.det.commands import infer as main

if __name__ == "__main__":
    main()
