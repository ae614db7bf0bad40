"""PaddleDetection's ``pretrain_weights`` accepting an E-ConvNeXt classification checkpoint.

PaddleDetection's ``load_pretrain_weight`` (ppdet/utils/checkpoint.py) matches names by suffix,
which for a classification state dict (``stem.*``, ``stages.*``, ``norm.*``, ``head.*``) either
loads the classifier's BatchNorm1D into some ``*.norm`` layer of the detector or stops on an
ambiguity, and it reads only ``.pdparams``. This wrapper reads the file once (``.pdparams``,
``.pdema`` or ``.safetensors``, suffix optional), recognises an E-ConvNeXt classification
checkpoint and hands the state dict it read to the backbone's own loader (classifier dropped,
one report line); any other file it read (a detector checkpoint) is loaded as PaddleDetection's
function would, from that state dict, so that no file is read twice. URLs, missing files and
models without an E-ConvNeXt backbone go to PaddleDetection's function unchanged.
"""
import functools

import numpy as np
import paddle
import ppdet.utils.checkpoint as ppdet_checkpoint

from ..io import is_url, read_weights
from .backbone import EConvNeXt, is_classification_state  # imports ppdet quietly first


def _load_detector_state(model, state, path):
    """The tail of PaddleDetection's ``load_pretrain_weight`` on a state dict already read:
    its ``match_state_dict`` (suffix matching), a cast to each parameter's dtype, ``set_dict``."""
    model_dict = model.state_dict()
    state = ppdet_checkpoint.match_state_dict(model_dict, state)
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            value = paddle.to_tensor(value)
        if model_dict[key].dtype != value.dtype:
            state[key] = value.astype(model_dict[key].dtype)
    model.set_dict(state)
    ppdet_checkpoint.logger.info(f"Finish loading model weights: {path}")

def wrap_load_pretrain_weight(original):
    """``original`` (PaddleDetection's ``load_pretrain_weight``) wrapped as the module docstring
    says; ``ppcls_ext.det.install()`` puts the wrapper where the Trainer looks it up."""
    @functools.wraps(original)
    def load_pretrain_weight(model, pretrain_weight):
        backbone = getattr(model, "backbone", None)
        if isinstance(backbone, EConvNeXt) and isinstance(pretrain_weight, str) \
                and not is_url(pretrain_weight):
            try:
                weights = read_weights(pretrain_weight)  # read once, handed on as is
            except FileNotFoundError:
                weights = None  # PaddleDetection's own error message
            if weights is not None and is_classification_state(weights[0]):
                backbone.load_classification_checkpoint(weights)
                return None
            if weights is not None:
                return _load_detector_state(model, *weights)
        return original(model, pretrain_weight)

    load_pretrain_weight._ppcls_ext_patched = True
    return load_pretrain_weight

