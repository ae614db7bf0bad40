"""Model compression with PaddleSlim: int8 quantization (QAT and PTQ) exported as QDQ ONNX.

``placement``: which layers run in int8; ``qat``: the ``Slim`` config section and the
engine's QAT hook; ``ptq``: calibration; ``qdq``: the int8 ONNX writer; ``export``: the
int8 export directory; ``legacy``: what needs Paddle's legacy program format, and why.
"""
