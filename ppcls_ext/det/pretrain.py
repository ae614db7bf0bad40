"""PaddleDetection's ``pretrain_weights`` accepting an E-ConvNeXt classification checkpoint.

PaddleDetection's ``load_pretrain_weight`` (ppdet/utils/checkpoint.py) matches names by suffix,
which for a classification state dict (``stem.*``, ``stages.*``, ``norm.*``, ``head.*``) either
loads the classifier's BatchNorm1D into some ``*.norm`` layer of the detector or stops on an
ambiguity. This wrapper recognises such a checkpoint and hands it to the backbone's own
loader (classifier dropped, one report line); every other file goes to PaddleDetection's
function unchanged.
"""
import functools
import os

from ..arch.weights import read_state_dict
from .backbone import EConvNeXt, is_classification_state

_STATE = {"applied": False}


def _checkpoint_path(weights):
    if weights.endswith(".pdparams"):
        return weights
    return weights + ".pdparams"


def _wrap(original):
    @functools.wraps(original)
    def load_pretrain_weight(model, pretrain_weight):
        backbone = getattr(model, "backbone", None)
        if isinstance(backbone, EConvNeXt) and isinstance(pretrain_weight, str) \
                and not pretrain_weight.startswith(("http://", "https://")):
            path = _checkpoint_path(pretrain_weight)
            if os.path.isfile(path) and is_classification_state(read_state_dict(path)):
                backbone.load_classification_checkpoint(path)
                return None
        return original(model, pretrain_weight)

    load_pretrain_weight._ppcls_ext_patched = True
    return load_pretrain_weight


def patch_load_pretrain_weight():
    """Wrap ``load_pretrain_weight`` where PaddleDetection looks it up (the checkpoint module
    and the name the Trainer imported from it)."""
    if _STATE["applied"]:
        return True
    import ppdet.engine.trainer as trainer
    import ppdet.utils.checkpoint as checkpoint
    wrapped = _wrap(checkpoint.load_pretrain_weight)
    checkpoint.load_pretrain_weight = wrapped
    trainer.load_pretrain_weight = wrapped
    _STATE["applied"] = True
    return True
