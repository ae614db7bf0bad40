"""Inference-time image preprocessing and Top-k post-processing that import no Paddle.

Shared by the training package (``ppcls_ext``: eval transforms, ``tools/infer.py``) and the
deploy predictor (``deploy/python/predict_cls.py``), so that a model deployed with ONNX
Runtime or OpenVINO preprocesses exactly as training-time evaluation does while the
deployment holds only numpy, Pillow (OpenCV for ``backend: cv2`` resizes), PyYAML and the
runtime. The paddleclas wheel's own deploy ops cannot serve here: its
``deploy/python/preprocess.py`` imports ``paddle.vision`` and importing any ``paddleclas``
module runs the wheel's ``__init__``, which imports Paddle.

Modules: ``decode`` (robust image decoding), ``preprocess`` (PaddleClas's inference ops and
``create_operators``), ``postprocess`` (``Topk``, batching), ``factory`` (config-name
factory with errors naming the key), ``det_preprocess`` (the preprocessing of a
PaddleDetection export without ppdet), ``onnx_export`` (the one paddle2onnx converter),
``timing`` (the one latency loop), ``atomic`` (atomic result files).
"""
