"""Predict images with a model from a PaddleClas YAML config.

    python tools/infer.py -c configs/quick_start/EConvNeXt_mini_digits.yaml [-o Key.Sub=value ...]

Same as the console script ``ppcls-infer``. With PADDLECLAS_ROOT naming an importable
PaddleClas source checkout, PaddleClas's own engine runs it.
"""
from ppcls_ext.commands import launch

if __name__ == "__main__":
    launch("infer", __doc__)
