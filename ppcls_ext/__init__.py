"""E-ConvNeXt for PaddleClas.

Importing the package registers nothing (and imports no Paddle until a name is used, PEP 562).
:func:`register` (the tools call it) adds ``EConvNeXt_mini``, ``EConvNeXt_tiny`` and
``EConvNeXt_small`` to PaddleClas's arch registry, so ``Arch: {name: EConvNeXt_tiny}`` works in
any PaddleClas config, with the paddleclas wheel or with a source checkout (importable
``ppcls``, named by ``PADDLECLAS_ROOT``). It is idempotent and recorded
(``ppcls_ext.registry.unregister()`` undoes it).
"""
from ._lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), {
    **dict.fromkeys(("DEFAULT_CFGS", "MODEL_NAMES", "EConvNeXt", "EConvNeXt_mini",
                     "EConvNeXt_small", "EConvNeXt_tiny"), ".arch"),
    "load_pretrained": ".io",
    **dict.fromkeys(("available_models", "build_model", "register"), ".registry")})
