"""Config validation shared by the engine and the optional sections (``Slim``).

``ConfigError`` and the schema of every config section live here, below both the engine
(``engine/config.py`` loads and validates a config) and ``slim`` (which reads its section):
neither imports the other to check a config. A misspelt key would otherwise be ignored
silently and a run would train with a default the user never meant.
"""
from ppcls_infer.cli import UserError

from .factory import unknown_keys_message

# ``Slim: {quant: {name: pact}}``, PaddleClas's section for quantization-aware training
# (``ppcls/engine/slim``); pruning is not supported.
SLIM_KEYS = {"quant"}
QUANT_KEYS = {"name"}
QUANTIZERS = ("pact",)


class ConfigError(UserError, ValueError):
    """A config problem, with the file and key at fault."""


class MissingFileError(UserError, FileNotFoundError):
    """A file named by a config value or a command-line argument does not exist."""


def check_keys(section, valid, where, path):
    """Raise ConfigError naming ``path`` and the closest valid key for each unknown key of
    ``section`` (a mapping; ``where`` is its dotted name, "" for the top level)."""
    unknown = set(section) - set(valid)
    if unknown:
        raise ConfigError(f"{path}: {unknown_keys_message(unknown, valid, where)}")


def check_slim_config(slim, path="<config>"):
    """The ``Slim`` section: ``{quant: {name: pact}}``. Returns the quantizer name or None."""
    if slim is None:
        return None
    if not isinstance(slim, dict):
        raise ConfigError(f"{path}: Slim must be a mapping such as {{quant: {{name: pact}}}}")
    for key in slim:
        if key not in SLIM_KEYS:
            raise ConfigError(f"{path}: unknown key Slim.{key!r}. Valid keys: "
                              f"{', '.join(sorted(SLIM_KEYS))} (pruning is not supported)")
    quant = slim.get("quant")
    if quant is None:
        return None
    if not isinstance(quant, dict):
        raise ConfigError(f"{path}: Slim.quant must be a mapping such as {{name: pact}}")
    for key in quant:
        if key not in QUANT_KEYS:
            raise ConfigError(f"{path}: unknown key Slim.quant.{key!r}. Valid keys: "
                              f"{', '.join(sorted(QUANT_KEYS))}")
    name = str(quant.get("name", "")).lower()
    if name not in QUANTIZERS:
        raise ConfigError(f"{path}: Slim.quant.name {quant.get('name')!r} is not a known "
                          f"quantizer; valid: {', '.join(QUANTIZERS)} (post-training "
                          "quantization: tools/quant_post.py)")
    return name
