"""Training engine reading PaddleClas configs: data, losses, optimizer, metrics, loop."""
from .config import ConfigError, load_config, validate_config
from .engine import Engine

__all__ = ["ConfigError", "Engine", "load_config", "validate_config"]
