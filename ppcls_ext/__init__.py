"""E-ConvNeXt for PaddleClas.

``import ppcls_ext`` registers ``EConvNeXt_mini``, ``EConvNeXt_tiny`` and ``EConvNeXt_small``
into PaddleClas's arch registry, so ``Arch: {name: EConvNeXt_tiny}`` works in any PaddleClas
config, with the paddleclas wheel or with a source checkout (top-level ``ppcls`` importable,
or named by ``PADDLECLAS_ROOT``).
"""
from .arch import (DEFAULT_CFGS, MODEL_NAMES, EConvNeXt, EConvNeXt_mini, EConvNeXt_small,
                   EConvNeXt_tiny)
from .io import load_pretrained
from .registry import available_models, build_model, register

__version__ = "0.1.0"

REGISTERED_INTO = register()

__all__ = ["DEFAULT_CFGS", "MODEL_NAMES", "EConvNeXt", "EConvNeXt_mini", "EConvNeXt_small",
           "EConvNeXt_tiny", "available_models", "build_model", "load_pretrained", "register",
           "REGISTERED_INTO"]
