"""E-ConvNeXt architecture and the converter for its authors' checkpoints."""
from .econvnext import (ARCH_SETTINGS, DEFAULT_CFGS, MODEL_STAGES_PATTERN, MODEL_URLS, CSPStage,
                        ConvBNAct, EConvNeXt, EConvNeXt_mini, EConvNeXt_small, EConvNeXt_tiny,
                        EConvNeXtBlock, EffectiveSE)
from .authors_checkpoint import convert_authors_state_dict

MODEL_NAMES = ("EConvNeXt_mini", "EConvNeXt_tiny", "EConvNeXt_small")

__all__ = ["ARCH_SETTINGS", "DEFAULT_CFGS", "MODEL_NAMES", "MODEL_STAGES_PATTERN", "MODEL_URLS",
           "CSPStage", "ConvBNAct", "EConvNeXt", "EConvNeXtBlock", "EffectiveSE",
           "EConvNeXt_mini", "EConvNeXt_small", "EConvNeXt_tiny", "convert_authors_state_dict"]
