"""E-ConvNeXt for PaddleClas.

Importing the package registers nothing. :func:`register` (the tools call it) adds
``EConvNeXt_mini``, ``EConvNeXt_tiny`` and ``EConvNeXt_small`` to PaddleClas's arch registry,
so ``Arch: {name: EConvNeXt_tiny}`` works in any PaddleClas config, with the paddleclas wheel
or with a source checkout (importable ``ppcls``, named by ``PADDLECLAS_ROOT``). It is
idempotent and recorded (``ppcls_ext.registry.unregister()`` undoes it).
"""
from .arch import (DEFAULT_CFGS, MODEL_NAMES, EConvNeXt, EConvNeXt_mini, EConvNeXt_small,
                   EConvNeXt_tiny, load_pretrained)
from .registry import available_models, build_model, register

__version__ = "0.1.0"

__all__ = ["DEFAULT_CFGS", "MODEL_NAMES", "EConvNeXt", "EConvNeXt_mini", "EConvNeXt_small",
           "EConvNeXt_tiny", "available_models", "build_model", "load_pretrained", "register"]
