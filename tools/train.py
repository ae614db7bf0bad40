"""Train a model from a PaddleClas YAML config.

    python tools/train.py -c configs/quick_start/EConvNeXt_mini_digits.yaml [-o Key.Sub=value ...]

With PADDLECLAS_ROOT set to a PaddleClas source checkout, PaddleClas's own engine runs it.
"""
from _launch import run

if __name__ == "__main__":
    run("train", __doc__)
