"""Export a detector to a Paddle Inference model (PaddleDetection's tools/export_model.py).

    python tools/det/export_model.py -c CFG -o weights=output/<name>/best_model \
        [--output_dir output_inference]

Writes ``<output_dir>/<config name>/``: the program (``model.json`` under Paddle 3's PIR,
``model.pdmodel`` in the legacy format), ``model.pdiparams`` and ``infer_cfg.yml`` (the
preprocessing, label list and NMS settings PaddleDetection's deploy predictor reads). With the
config's ``export: {post_process: true, nms: true}`` (the default) box decoding and
MultiClassNMS are inside the model: it returns ``bbox`` [N, 6] = (class, score, x1, y1, x2,
y2) in input-image pixels and ``bbox_num`` per image. Export runs on the CPU, as
PaddleDetection's.

Same as the console script ``ppcls-det-export`` (code: ``ppcls_ext.det.commands.export_model``).
"""
from ppcls_ext.det.commands import export_model as main

if __name__ == "__main__":
    main()
