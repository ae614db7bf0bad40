"""Weights and checkpoint I/O: the one place that reads, writes and resolves weight files.

``pickle_file``: Paddle pickles (``.pdparams``/``.pdopt``/``.pdema``/``.pdstates``) through
the allow-list (``check_pickle_allowlist``); ``safetensors_file``: ``.safetensors`` with
per-tensor SHA-256; ``paths``: suffixes, prefixes and ``resolve_weights_path``;
``state_dict``: ``read_state_dict`` / ``write_state_dict`` (atomic) and
``match_state_dict``; ``loader``: ``load_pretrained`` from a path or an already-read state
dict; ``checkpoint``: PaddleClas's training checkpoint layout, saved atomically and resumed.
"""
from .checkpoint import CheckpointWriteError, load_checkpoint, load_ema, save_checkpoint
from .errors import WeightsFileError, WeightsNotFoundError
from .loader import load_pretrained, read_weights
from .paths import (SAVE_FORMATS, WEIGHT_SUFFIXES, checkpoint_prefixes, describe_weights,
                    find_weights, is_url, resolve_weights_path, strip_suffix)
from .pickle_file import UnsafeCheckpointError, guard_paddle_load, read_pickle
from .safetensors_file import SafetensorsMissingError
from .state_dict import CLASSIFIER_PREFIX, match_state_dict, read_state_dict, write_state_dict

__all__ = ["CLASSIFIER_PREFIX", "SAVE_FORMATS", "WEIGHT_SUFFIXES", "CheckpointWriteError",
           "SafetensorsMissingError", "UnsafeCheckpointError", "WeightsFileError",
           "WeightsNotFoundError", "checkpoint_prefixes", "describe_weights", "find_weights",
           "guard_paddle_load", "is_url", "load_checkpoint", "load_ema", "load_pretrained",
           "match_state_dict", "read_pickle", "read_state_dict", "read_weights",
           "resolve_weights_path", "save_checkpoint", "strip_suffix", "write_state_dict"]
