"""Load a PaddleClas YAML config (with ``-o`` overrides) and reject keys nobody reads.

Parsing is the paddleclas wheel's ``ppcls.utils.config.parse_config`` (YAML into AttrDict);
``-o`` overrides go through the project's one parser, ``ppcls_infer.cli.apply_overrides``
(PaddleClas's override semantics, values as YAML literals, never ``eval``). What is added is
validation (``ppcls_ext.validation`` holds ``ConfigError`` and the optional sections' schema,
so that ``slim`` checks its section without importing this module).
"""
import os

import yaml
from ppcls_infer.bounded_yaml import load_file
from ppcls_infer.cli import apply_overrides, make_parser
from ppcls_infer.values import override_source

from .._ppcls import ppcls_module
from ..io import SAVE_FORMATS
from ..validation import (CLASSIFICATION_VALUES, ConfigError, MissingFileError, check_keys,
                          check_slim_config, check_values)
from . import paddleclas_keys

_cfg = ppcls_module("utils.config")

TOP_LEVEL_KEYS = {"Global", "Arch", "Loss", "Optimizer", "DataLoader", "Metric", "Infer",
                  "EMA", "AMP", "Slim"}
# PaddleClas's Global keys this engine honours, plus this project's own (save_format,
# infer_add_softmax, use_ema_weights); the table with reasons is paddleclas_keys
GLOBAL_KEYS = set(paddleclas_keys.HONOURED["Global"]) | {
    key for section, key in paddleclas_keys.EXTENSIONS if section == "Global"}
ENGINE_SECTIONS = {name: set(paddleclas_keys.HONOURED[name])
                   for name in ("Metric", "Loss", "AMP", "EMA")}

__all__ = ["ConfigError", "load_config", "parse_args", "validate_config"]


def _refuse(config, path):
    """PaddleClas keys this engine does not implement: one line saying why (never ignored)."""
    for (section, key), reason in paddleclas_keys.REFUSED.items():
        node = config if section is None else config.get(section)
        if isinstance(node, dict) and key in node:
            name = key if section is None else f"{section}.{key}"
            raise ConfigError(f"{path}: {name} is a PaddleClas key this project does not "
                              f"support: {reason}")


def validate_config(config, path="<config>", overrides=()):
    """Raise ConfigError for refused PaddleClas keys (``paddleclas_keys.REFUSED``, with the
    reason), for unknown top-level, Global, Loss/Metric/AMP/EMA keys and for numeric values of
    the wrong type or out of range (``validation.CLASSIFICATION_VALUES``; the message names
    the ``-o`` item of ``overrides`` that set the value, else ``path``)."""
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the YAML top level must be a mapping of sections")
    _refuse(config, path)
    check_keys(config, TOP_LEVEL_KEYS, "", path)
    for name in ("Global", "Arch"):
        if not isinstance(config.get(name), dict):
            raise ConfigError(f"{path}: section {name!r} is missing or not a mapping")
    check_keys(config["Global"], GLOBAL_KEYS, "Global", path)
    for name, valid in ENGINE_SECTIONS.items():
        if isinstance(config.get(name), dict):
            check_keys(config[name], valid, name, path)
    save_format = config["Global"].get("save_format", "pdparams")
    if save_format not in SAVE_FORMATS:
        raise ConfigError(f"{path}: Global.save_format must be one of {', '.join(SAVE_FORMATS)}"
                          f", got {save_format!r}")
    if config.get("Slim") is not None:  # Slim: {quant: {name: pact}} (ppcls_ext.slim)
        check_slim_config(config["Slim"], path)
    check_values(config, CLASSIFICATION_VALUES, path, overrides)
    _check_class_num(config, path, overrides)
    return config


def _check_class_num(config, path, overrides):
    """``Global.class_num`` is PaddleClas's deprecated spelling: it stands in for a missing
    ``Arch.class_num``; PaddleClas ignores it (with a log line) when both are set. Both set
    to different numbers is refused here: the model would silently get Arch's."""
    g_num, a_num = config["Global"].get("class_num"), config["Arch"].get("class_num")
    if g_num is not None and a_num is not None and g_num != a_num:
        item = override_source("Global.class_num", overrides) or \
            override_source("Arch.class_num", overrides)
        where = f"-o {item}" if item else path
        raise ConfigError(f"{where}: Global.class_num is {g_num} but Arch.class_num is {a_num}; "
                          "Arch.class_num sets the model's classes (Global.class_num is "
                          "PaddleClas's deprecated spelling): set -o Arch.class_num=N, and "
                          "Global.class_num to the same or leave it out")


def load_config(path, overrides=None, validate=True):
    """Read ``path``, apply ``-o Key.Sub=value`` overrides, validate. Returns an AttrDict."""
    if not os.path.isfile(path):
        raise MissingFileError(f"config file {path!r} does not exist")
    try:
        # the wheel's parse_config, with aliases bounded (a 4.5 KB billion-laughs file took
        # 11 GB in its AttrDict conversion)
        data = load_file(path)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the YAML top level must be a mapping of sections")
    config = _cfg.AttrDict(data)
    _cfg.create_attr_dict(config)
    # a whole section may be added (-o AMP.use_amp=true), a misspelt one may not
    apply_overrides(config, overrides,
                    new_section=lambda path: len(path) == 1 and path[0] in TOP_LEVEL_KEYS)
    _cfg.create_attr_dict(config)  # sections an override added become AttrDicts too
    if validate:
        validate_config(config, path, overrides)
    return config


def parse_args(description, argv=None):
    """PaddleClas's command line: ``-c CONFIG`` and ``-o Key=value`` (ppcls_infer.cli)."""
    return make_parser(description).parse_args(argv)
