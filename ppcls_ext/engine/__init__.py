"""Training engine reading PaddleClas configs: data, losses, optimizer, metrics, loop.

Names are imported on first use (PEP 562), so importing a light submodule (e.g.
``ppcls_ext.engine.data.digits``) does not import Paddle.
"""
from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), {
    "ConfigError": ".config", "load_config": ".config", "validate_config": ".config",
    "Engine": ".engine"})
