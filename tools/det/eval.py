"""Evaluate a detector on EvalDataset (PaddleDetection's tools/eval.py command line).

    python tools/det/eval.py -c CFG -o weights=output/<name>/best_model [--classwise]

Prints COCO mAP (PaddleDetection's COCOMetric, pycocotools); bbox.json lands in
``--output_eval`` (default here: ``save_dir/<config name>/``; PaddleDetection's is the working
directory).

Same as the console script ``ppcls-det-eval`` (code: ``ppcls_ext.det.commands.evaluate``).
"""
from ppcls_ext.det.commands import evaluate as main

if __name__ == "__main__":
    main()
