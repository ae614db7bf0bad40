"""E-ConvNeXt as a PaddleDetection backbone.

The detection backbone *is* the project's ``ppcls_ext.arch.econvnext.EConvNeXt`` built with
``out_indices`` (each output through its own BatchNorm2D, as in the paper); this subclass only
adds what PaddleDetection's workspace expects of a backbone (PaddleDetection's
``ppdet/modeling/backbones/cspresnet.py`` is the model): keywords as config keys,
``forward(inputs)`` reading ``inputs['image']`` and ``out_shape`` as ``ShapeSpec``s. Its
parameter names are the classification network's, so a classification checkpoint from
``tools/train.py`` fits key for key (the classifier aside).
"""
import paddle.nn as nn

from .ppdet_import import import_ppdet

import_ppdet()  # before any ppdet name: its import flips PIL's truncated-image flag
from ppdet.modeling.shape_spec import ShapeSpec  # noqa: E402
from ppdet.utils.logger import setup_logger  # noqa: E402

from ..arch.econvnext import ARCH_SETTINGS
from ..arch.econvnext import EConvNeXt as _EConvNeXtNet
from ..io import CLASSIFIER_PREFIX, match_state_dict, read_weights
from ..io.errors import WeightsFileError
from ..validation import ConfigError

logger = setup_logger(__name__)

# Keys of the classification network that the detection backbone does not have: the
# BatchNorm1D after pooling and the Linear classifier.
CLASSIFICATION_ONLY_PREFIXES = ("norm.", CLASSIFIER_PREFIX)


def is_classification_state(state):
    """True for an E-ConvNeXt classification state dict (tools/train.py's .pdparams)."""
    keys = list(state)
    return (any(k.startswith("stem.") for k in keys)
            and any(k.startswith("stages.") for k in keys)
            and not any(k.startswith("backbone.") for k in keys))


class EConvNeXt(_EConvNeXtNet):
    """E-ConvNeXt backbone for PaddleDetection (config section ``EConvNeXt:``; registered into
    PaddleDetection's workspace by ``ppcls_ext.det.install()``, not on import).

    Args:
        arch: "mini", "tiny", "small" (or an arch dict, see ``ppcls_ext.arch.econvnext``).
        return_idx: stages to return; [1, 2, 3] gives strides 8/16/32 (the paper's setting).
        drop_path_rate: stochastic depth, rising linearly over all blocks.
        freeze_at: -1 trains everything; k >= 0 freezes the stem and stages 0..k (the meaning
            of PaddleDetection ResNet's ``freeze_at``); frozen layers also keep their
            BatchNorm statistics.
        freeze_norm: keep every BatchNorm of the backbone fixed (affine parameters and
            running statistics), as PaddleDetection's ``freeze_norm``.
        pretrained: a classification checkpoint from tools/train.py (``.pdparams``,
            ``.pdema`` or ``.safetensors``; the suffix may be omitted, as in
            ``Global.pretrained_model``); the classifier is dropped. A path that does not
            exist yet leaves the backbone at its initialisation with one warning.
    """

    def __init__(self, arch="mini", return_idx=(1, 2, 3), drop_path_rate=0.0, freeze_at=-1,
                 freeze_norm=False, pretrained=None):
        super().__init__(arch=arch, class_num=0, drop_path_rate=drop_path_rate,
                         out_indices=list(return_idx))
        self.return_idx = self.out_indices
        if not -1 <= freeze_at < len(self.stages):
            raise ConfigError(f"EConvNeXt.freeze_at must be in [-1, {len(self.stages) - 1}], "
                              f"got {freeze_at}")
        self.freeze_at = freeze_at
        self.freeze_norm = freeze_norm
        if pretrained:
            self.load_classification_checkpoint(pretrained)
        if freeze_at >= 0:
            for layer in [self.stem] + list(self.stages[:freeze_at + 1]):
                _freeze(layer, norms_only=False)
        if freeze_norm:
            _freeze(self, norms_only=True)

    @property
    def out_shape(self):
        return [ShapeSpec(channels=c, stride=s)
                for c, s in zip(self.out_channels, self.out_strides)]

    def forward(self, inputs):
        return super().forward(inputs["image"])

    def load_classification_checkpoint(self, weights):
        """Load a classification checkpoint into the backbone; returns the match report.

        ``weights``: a path or prefix (resolved by ``ppcls_ext.io.resolve_weights_path``:
        ``.pdparams``, ``.pdema`` or ``.safetensors``) or an already-read ``(state dict,
        path)`` pair. A missing file is a warning (training starts from scratch), an
        unreadable or non-fitting one an error. One report line names what was not loaded.
        """
        try:
            state, path = read_weights(weights)
        except FileNotFoundError as exc:
            logger.warning(f"E-ConvNeXt backbone: pretrained checkpoint {weights} does not "
                           f"exist (yet); the backbone starts from scratch. ({exc})")
            return None
        dropped = sorted(k for k in state if k.startswith(CLASSIFICATION_ONLY_PREFIXES))
        state = {k: v for k, v in state.items()
                 if not k.startswith(CLASSIFICATION_ONLY_PREFIXES)}
        report = match_state_dict(self.state_dict(), state)
        if report["mismatched"]:
            raise WeightsFileError(f"{path} does not fit E-ConvNeXt-{self._arch_name()} "
                                   f"(wrong variant?): {report['mismatched'][:3]}")
        if not report["loadable"]:
            raise WeightsFileError(f"{path} shares no parameter name with the E-ConvNeXt "
                                   "backbone; is it an E-ConvNeXt classification checkpoint?")
        self.set_state_dict(report["loadable"])
        report["dropped_classifier"] = dropped
        logger.info(f"E-ConvNeXt backbone: loaded {len(report['loadable'])}/"
                    f"{len(self.state_dict())} tensors from {path}; classifier dropped "
                    f"({len(dropped)}); missing {len(report['missing'])} "
                    f"{_preview(report['missing'])}; unexpected {len(report['unexpected'])} "
                    f"{_preview(report['unexpected'])}")
        return report

    def _arch_name(self):
        for name, settings in ARCH_SETTINGS.items():
            if settings == self.arch_settings:
                return name
        return "custom"


def _preview(keys, n=4):
    return f"{keys[:n]}{' ...' if len(keys) > n else ''}" if keys else ""


def _freeze(layer, norms_only):
    """Stop gradients (all parameters, or only BatchNorm's) and fix BatchNorm statistics."""
    for sub in layer.sublayers(include_self=True):
        is_norm = isinstance(sub, nn.layer.norm._BatchNormBase)
        if is_norm:
            # use_global_stats: normalise with, and never update, the running statistics
            sub._use_global_stats = True
        if is_norm or not norms_only:
            for param in sub.parameters(include_sublayers=False):
                param.stop_gradient = True
