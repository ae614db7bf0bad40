"""PaddleDetection's ``pretrain_weights`` accepting an E-ConvNeXt classification checkpoint.

PaddleDetection's ``load_pretrain_weight`` (ppdet/utils/checkpoint.py) matches names by suffix,
which for a classification state dict (``stem.*``, ``stages.*``, ``norm.*``, ``head.*``) either
loads the classifier's BatchNorm1D into some ``*.norm`` layer of the detector or stops on an
ambiguity, and it reads only ``.pdparams``. This wrapper reads a local file once (``.pdparams``,
``.pdema`` or ``.safetensors``, suffix optional): an E-ConvNeXt classification checkpoint for
a model with an E-ConvNeXt backbone goes to the backbone's own loader (classifier dropped, one
report line); any other file (a detector checkpoint, e.g. COCO-trained for another class count)
is loaded as PaddleDetection's function would, from that state dict, tensors of another shape
skipped with one summary line (``weights.load_pretrain_state``). URLs and missing files go to
PaddleDetection's function unchanged.
"""
import functools

from ..io import is_url, read_weights
from .backbone import EConvNeXt, is_classification_state  # imports ppdet quietly first
from .weights import load_pretrain_state


def wrap_load_pretrain_weight(original):
    """``original`` (PaddleDetection's ``load_pretrain_weight``) wrapped as the module docstring
    says; ``ppcls_ext.det.install()`` puts the wrapper where the Trainer looks it up."""
    @functools.wraps(original)
    def load_pretrain_weight(model, pretrain_weight):
        if isinstance(pretrain_weight, str) and not is_url(pretrain_weight):
            try:
                weights = read_weights(pretrain_weight)  # read once, handed on as is
            except FileNotFoundError:
                weights = None  # PaddleDetection's own error message
            backbone = getattr(model, "backbone", None)
            if weights is not None and isinstance(backbone, EConvNeXt) \
                    and is_classification_state(weights[0]):
                backbone.load_classification_checkpoint(weights)
                return None
            if weights is not None:
                return load_pretrain_state(model, *weights)
        return original(model, pretrain_weight)

    load_pretrain_weight._ppcls_ext_patched = True
    return load_pretrain_weight

