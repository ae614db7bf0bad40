"""E-ConvNeXt: a lightweight ConvNeXt with cross-stage partial (CSP) connections.

Wang et al., "E-ConvNeXt: A Lightweight and Efficient ConvNeXt Variant with Cross-Stage Partial
Connections", arXiv 2508.20955 (2025). Read top to bottom: building blocks, the network, the
variant table, the factories PaddleClas's ``build_model`` calls by name.

Against ConvNeXt: every stage is a CSP stage whose blocks run on half of its channels; the
stem is a ConvBN stack; blocks use BatchNorm instead of LayerNorm; an effective
squeeze-excitation (ESE) replaces layer scale; the head is average pool -> BatchNorm1D -> Linear.
"""
import inspect

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from paddle.nn.initializer import Constant, TruncatedNormal

from ppcls_infer.cli import InvalidTypeError

from .._ppcls import TheseusLayer, ppcls_module
from ..factory import unknown_keys_message
from ..io.loader import load_pretrained
from ..validation import ConfigError

# PaddleClas's stochastic-depth layer (timm semantics: per-sample, rescaled by 1/keep_prob,
# identity in eval mode); reused rather than rewritten.
DropPath = ppcls_module("arch.backbone.model_zoo.convnext").DropPath

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# No trained E-ConvNeXt weights are published (the authors' URLs point at ConvNeXt-tiny,
# which does not fit this architecture), hence no URLs.
MODEL_URLS = {"EConvNeXt_mini": None, "EConvNeXt_tiny": None, "EConvNeXt_small": None}

MODEL_STAGES_PATTERN = {
    "EConvNeXt": ["stem", "stages[0]", "stages[1]", "stages[2]", "stages[3]"]
}

ARCH_SETTINGS = {
    "mini": dict(depths=(3, 3, 9, 3), dims=(48, 96, 192, 384, 768), stem="patchify",
                 strides=(1, 2, 2, 2)),
    "tiny": dict(depths=(3, 3, 9, 3), dims=(64, 128, 256, 512, 1024), stem="stepped",
                 strides=(2, 2, 2, 2)),
    "small": dict(depths=(3, 3, 27, 3), dims=(64, 128, 256, 512, 1024), stem="stepped",
                  strides=(2, 2, 2, 2)),
}

_PAPER = "https://arxiv.org/abs/2508.20955"
# Model cards: what a user needs to feed the model and what to expect of it. params/MACs are
# this implementation's, measured by tests/test_arch_econvnext.py; top-1 is the paper's.
DEFAULT_CFGS = {
    f"EConvNeXt_{variant}": dict(
        input_size=(3, 224, 224), crop_pct=224 / 256, interpolation="bicubic",
        mean=IMAGENET_MEAN, std=IMAGENET_STD, classifier="head", first_conv="stem.conv1.conv",
        num_classes=1000, paper=_PAPER, license="Apache-2.0", weights=None,
        params_m=params, macs_g=macs, paper_top1=top1)
    for variant, params, macs, top1 in (("mini", 7.659, 0.931, 78.3),
                                         ("tiny", 13.249, 2.046, 80.6),
                                         ("small", 19.428, 3.128, 81.9))
}

__all__ = ["EConvNeXt", "EConvNeXt_mini", "EConvNeXt_tiny", "EConvNeXt_small"]

_trunc_normal = TruncatedNormal(std=0.02)
_zeros = Constant(value=0.0)


class ConvBNAct(TheseusLayer):
    """Conv2D (with bias) -> BatchNorm2D -> GELU: the unit of the stem, the CSP transitions."""

    def __init__(self, ch_in, ch_out, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2D(ch_in, ch_out, kernel_size, stride=stride, padding=padding)
        self.bn = nn.BatchNorm2D(ch_out)
        self.act = nn.GELU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class EffectiveSE(TheseusLayer):
    """Effective squeeze-excitation (ESE): one 1x1 conv on the channel means, hard-sigmoid gate.

    ``[N, C, H, W] -> [N, C, H, W]``: each channel scaled by a gate in [0, 1] computed from the
    global average of all channels (one C->C conv with bias, no reduction, unlike SE's two).
    Source: Lee and Park, "CenterMask: Real-Time Anchor-Free Instance Segmentation", CVPR 2020
    (arXiv 1911.06667), VoVNetV2's eSE; E-ConvNeXt uses it in place of ConvNeXt's layer scale.
    """

    def __init__(self, channels):
        super().__init__()
        self.fc = nn.Conv2D(channels, channels, 1)

    def forward(self, x):
        # adaptive_avg_pool2d (GlobalAveragePool once exported) rather than mean(): the same
        # numbers, but oneDNN and ONNX Runtime keep their blocked layouts through a pool while
        # a reduce-mean forces a conversion to plain NCHW and back around every ESE.
        gate = F.hardsigmoid(self.fc(F.adaptive_avg_pool2d(x, 1)))
        return x * gate


class EConvNeXtBlock(TheseusLayer):
    """ConvNeXt block with BatchNorm and ESE in place of LayerNorm and layer scale."""

    def __init__(self, dim, drop_path=0.0):
        super().__init__()
        self.dwconv = nn.Conv2D(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.BatchNorm2D(dim)
        self.pwconv1 = nn.Conv2D(dim, 4 * dim, 1)
        self.act = nn.GELU()
        self.pwconv2 = nn.Conv2D(4 * dim, dim, 1)
        self.norm2 = nn.BatchNorm2D(dim)
        self.ese = EffectiveSE(dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x):
        y = self.norm(self.dwconv(x))
        y = self.norm2(self.pwconv2(self.act(self.pwconv1(y))))
        return x + self.drop_path(self.ese(y))


class CSPStage(TheseusLayer):
    """Cross-stage partial stage: half the channels bypass the blocks, then both halves merge.

    ``[N, ch_in, H, W] -> [N, ch_out, H / stride, W / stride]`` (sizes floored). A 2x2 stride-2
    ConvBN takes the input to ``ch_mid = (ch_in + ch_out) // 2`` channels; two 1x1 ConvBN
    branches each take ``ch_mid / 2``; the ``depth`` blocks run on the second only; the
    concatenation passes an ESE and a 1x1 ConvBN to ``ch_out``. With ``stride == 1`` there is
    no downsampling unit and the input must already carry ``ch_mid`` channels (the patchify
    stem provides them). Source: Wang et al., "CSPNet: A New Backbone that can Enhance
    Learning Capability of CNN", CVPR Workshops 2020 (arXiv 1911.11929), as E-ConvNeXt
    (arXiv 2508.20955) applies it to ConvNeXt stages.
    """

    def __init__(self, ch_in, ch_out, depth, stride, drop_path_rates):
        super().__init__()
        ch_mid = (ch_in + ch_out) // 2
        half = ch_mid // 2
        self.ch_mid = ch_mid
        self.down = ConvBNAct(ch_in, ch_mid, 2, stride=2) if stride == 2 else nn.Identity()
        self.conv1 = ConvBNAct(ch_mid, half, 1)
        self.conv2 = ConvBNAct(ch_mid, half, 1)
        self.blocks = nn.Sequential(*[EConvNeXtBlock(half, rate) for rate in drop_path_rates])
        self.attn = EffectiveSE(ch_mid)
        self.conv3 = ConvBNAct(ch_mid, ch_out, 1)

    def forward(self, x):
        x = self.down(x)
        y = paddle.concat([self.conv1(x), self.blocks(self.conv2(x))], axis=1)
        return self.conv3(self.attn(y))


def _build_stem(kind, in_chans, dims):
    stem = nn.Sequential()
    if kind == "patchify":
        stem.add_sublayer("conv1", ConvBNAct(in_chans, (dims[0] + dims[1]) // 2, 4, stride=4))
    elif kind == "stepped":
        half = dims[0] // 2
        stem.add_sublayer("conv1", ConvBNAct(in_chans, half, 2, stride=2))
        stem.add_sublayer("conv2", ConvBNAct(half, half, 3, padding=1))
        stem.add_sublayer("conv3", ConvBNAct(half, dims[0], 3, padding=1))
    else:
        raise ConfigError(f"E-ConvNeXt stem must be 'patchify' or 'stepped', got {kind!r}")
    return stem


def _resolve_arch(arch):
    if isinstance(arch, str):
        if arch not in ARCH_SETTINGS:
            raise ConfigError(
                f"Unknown E-ConvNeXt arch {arch!r}; valid: {sorted(ARCH_SETTINGS)} or a dict "
                "with keys depths (4 ints), dims (5 ints), stem, strides (4 ints).")
        return dict(ARCH_SETTINGS[arch])
    required = {"depths": 4, "dims": 5, "strides": 4, "stem": None}
    missing = [k for k in required if k not in arch]
    if missing:
        raise ConfigError(f"Custom E-ConvNeXt arch dict lacks {missing}; it needs {list(required)}")
    for key, length in required.items():
        if length and len(arch[key]) != length:
            raise ConfigError(f"E-ConvNeXt arch[{key!r}] needs {length} values, got {arch[key]}")
    return dict(arch)


class EConvNeXt(TheseusLayer):
    """E-ConvNeXt classification network and multi-scale backbone.

    Args:
        arch: "mini", "tiny", "small" or a dict with ``depths``, ``dims``, ``stem``, ``strides``.
        class_num: classifier width; 0 keeps the pooled, BatchNorm'd features (no Linear).
        in_chans: input image channels.
        drop_path_rate: stochastic depth, rising linearly from 0 to this over all blocks.
        out_indices: stage indices (0..3, negative allowed) to return as a detection backbone;
            each output then passes through its own BatchNorm2D and no classifier is built.
        stages_pattern, return_patterns, return_stages, freeze_befor, stop_after:
            PaddleClas ``TheseusLayer`` options (intermediate outputs, freezing, truncation).
    """

    def __init__(self, arch="tiny", class_num=1000, in_chans=3, drop_path_rate=0.0,
                 out_indices=None, stages_pattern=None, return_patterns=None,
                 return_stages=None, freeze_befor=None, stop_after=None):
        super().__init__()
        settings = _resolve_arch(arch)
        depths, dims, strides = settings["depths"], settings["dims"], settings["strides"]
        if not 0.0 <= drop_path_rate < 1.0:
            raise ConfigError(f"drop_path_rate must be in [0, 1), got {drop_path_rate}")
        self.arch_settings = settings
        self.class_num = class_num
        self.stem = _build_stem(settings["stem"], in_chans, dims)
        rates = np.linspace(0.0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.LayerList()
        reduction = 4 if settings["stem"] == "patchify" else 2
        self.feature_info = []
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            self.stages.append(CSPStage(dims[i], dims[i + 1], depth, strides[i],
                                        rates[start:start + depth]))
            reduction *= strides[i]
            self.feature_info.append(
                dict(num_chs=dims[i + 1], reduction=reduction, module=f"stages.{i}"))
        self.num_features = dims[-1]

        self.out_indices = None
        if out_indices is not None:
            self.out_indices = self._normalize_indices(out_indices)
            self.norms = nn.LayerList(
                [nn.BatchNorm2D(self.feature_info[i]["num_chs"]) for i in self.out_indices])
        else:
            self.norm = nn.BatchNorm1D(self.num_features)
            self.head = self._make_head(class_num)
        self.apply(self._init_weights)
        super().init_net(stages_pattern=stages_pattern, return_patterns=return_patterns,
                         return_stages=return_stages, freeze_befor=freeze_befor,
                         stop_after=stop_after)

    def _normalize_indices(self, indices):
        n = len(self.feature_info)
        indices = [indices] if isinstance(indices, int) else list(indices)
        bad = [i for i in indices if not -n <= i < n]
        if bad or not indices:
            raise ConfigError(f"out_indices {indices} must be non-empty stage indices in "
                              f"[{-n}, {n - 1}]")
        return sorted({i % n for i in indices})

    def _make_head(self, class_num):
        if class_num < 0:
            raise ConfigError(f"class_num must be >= 0 (0 = no classifier), got {class_num}")
        head = nn.Linear(self.num_features, class_num) if class_num > 0 else nn.Identity()
        head.apply(self._init_weights)
        return head

    @staticmethod
    def _init_weights(layer):
        if isinstance(layer, (nn.Conv2D, nn.Linear)):
            _trunc_normal(layer.weight)
            if layer.bias is not None:
                _zeros(layer.bias)

    @property
    def out_channels(self):
        """Channels of each multi-scale output (detection mode) or of every stage."""
        indices = self.out_indices if self.out_indices is not None else range(4)
        return [self.feature_info[i]["num_chs"] for i in indices]

    @property
    def out_strides(self):
        indices = self.out_indices if self.out_indices is not None else range(4)
        return [self.feature_info[i]["reduction"] for i in indices]

    def get_classifier(self):
        return self.head

    def reset_classifier(self, class_num):
        """Swap the classifier for fine-tuning (``class_num=0``: pooled features only)."""
        if self.out_indices is not None:
            raise RuntimeError("This E-ConvNeXt was built as a detection backbone "
                               f"(out_indices={self.out_indices}); it has no classifier.")
        self.class_num = class_num
        self.head = self._make_head(class_num)

    def forward_stages(self, x, out_indices=(1, 2, 3)):
        """Raw outputs of the chosen stages, shallow to deep (no output BatchNorm).

        Args:
            x: images ``[N, in_chans, H, W]``, float32, normalised as the model card says
                (``DEFAULT_CFGS``: ImageNet mean/std on [0, 1] pixels).
            out_indices: stage indices in 0..3 (negative allowed); stage ``i`` has stride
                ``feature_info[i]["reduction"]`` (4, 8, 16, 32) and ``num_chs`` channels.
        Returns:
            a list of ``[N, C_i, H / s_i, W / s_i]`` tensors (sizes floored), in stage order;
            stages after the deepest requested one are not run.
        Raises:
            ValueError: an index outside [-4, 3] or an empty list.
        """
        wanted = self._normalize_indices(out_indices)
        outs = []
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in wanted:
                outs.append(x)
            if i == wanted[-1]:
                break
        return outs

    def forward_features(self, x):
        """The last stage's map: ``[N, in_chans, H, W] -> [N, num_features, H / 32, W / 32]``
        (``num_features`` 768 for mini, 1024 for tiny and small; sizes floored). Input as in
        :meth:`forward_stages`. Follows timm's ``forward_features`` split."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_head(self, x, pre_logits=False):
        """Global average pool -> BatchNorm1D -> Linear on a :meth:`forward_features` map.

        Returns ``[N, class_num]`` logits (no softmax), or the pooled, normalised
        ``[N, num_features]`` features when ``pre_logits`` is true or ``class_num`` is 0.
        Not available on a detection backbone (``out_indices`` set: no head is built).
        """
        x = self.norm(F.adaptive_avg_pool2d(x, 1).flatten(1))
        return x if pre_logits else self.head(x)

    def forward(self, x):
        """Images ``[N, in_chans, H, W]`` (float32, normalised as in :meth:`forward_stages`;
        any H, W >= 32) to ``[N, class_num]`` logits; in detection mode (``out_indices`` set)
        to the list of chosen stage maps, each through its own BatchNorm2D (strides
        ``out_strides``, channels ``out_channels``)."""
        if self.out_indices is not None:
            feats = self.forward_stages(x, self.out_indices)
            return [norm(f) for norm, f in zip(self.norms, feats)]
        return self.forward_head(self.forward_features(x))


VALID_KWARGS = sorted(set(inspect.signature(EConvNeXt.__init__).parameters)
                       - {"self", "arch", "stages_pattern"})


def _create(name, variant, pretrained, use_ssld, kwargs):
    unknown = sorted(set(kwargs) - set(VALID_KWARGS))
    if unknown:
        raise TypeError(unknown_keys_message(unknown, ["pretrained", "use_ssld", *VALID_KWARGS],
                                             f"{name}()"))
    if pretrained is True:
        raise ConfigError(
            f"{name}: no official E-ConvNeXt weights are published (the authors' links point "
            "at ConvNeXt-tiny weights, which do not fit this architecture). Pass "
            "pretrained=False, a local .pdparams/.safetensors path or a URL of your own "
            "weights.")
    if pretrained not in (False, None) and not isinstance(pretrained, str):
        raise InvalidTypeError(f"{name}: pretrained (Arch.pretrained) must be False, a "
                               f".pdparams/.safetensors path or a URL, got {pretrained!r}")
    model = EConvNeXt(variant, stages_pattern=MODEL_STAGES_PATTERN["EConvNeXt"], **kwargs)
    if isinstance(pretrained, str):
        # pretrained= initialises a model to fine-tune: a classifier of another class count
        # is left out (Global.pretrained_model of eval/infer/export refuses it)
        load_pretrained(model, pretrained, fine_tune=True)
    return model


def EConvNeXt_mini(pretrained=False, use_ssld=False, **kwargs):
    """E-ConvNeXt-mini: patchify stem, depths 3-3-9-3, 7.7M params, 0.93 GMACs at 224.

    Args:
        pretrained: False, or a local ``.pdparams``/``.safetensors`` path / URL (no official
            weights exist).
        use_ssld: accepted for PaddleClas compatibility; no SSLD weights exist.
        **kwargs: ``EConvNeXt`` keywords (class_num, in_chans, drop_path_rate, out_indices, ...).
    """
    return _create("EConvNeXt_mini", "mini", pretrained, use_ssld, kwargs)


def EConvNeXt_tiny(pretrained=False, use_ssld=False, **kwargs):
    """E-ConvNeXt-tiny: stepped stem, depths 3-3-9-3, 13.2M params, 2.0 GMACs at 224.

    Args: as ``EConvNeXt_mini``.
    """
    return _create("EConvNeXt_tiny", "tiny", pretrained, use_ssld, kwargs)


def EConvNeXt_small(pretrained=False, use_ssld=False, **kwargs):
    """E-ConvNeXt-small: stepped stem, depths 3-3-27-3, 19.4M params, 3.1 GMACs at 224.

    Args: as ``EConvNeXt_mini``.
    """
    return _create("EConvNeXt_small", "small", pretrained, use_ssld, kwargs)
