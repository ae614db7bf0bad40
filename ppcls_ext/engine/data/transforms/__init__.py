"""Per-image transform ops and batch ops with PaddleClas's names and keys."""
from .batch_ops import BATCH_OPS_WITH_SAMPLER, CutmixOperator, MixupOperator, OpSampler
from .ops import OPS, DecodeImage, create_operators
from .randaugment import TimmAutoAugment
from .random_erasing import RandomErasing

__all__ = ["BATCH_OPS_WITH_SAMPLER", "OPS", "CutmixOperator", "DecodeImage", "MixupOperator",
           "OpSampler", "RandomErasing", "TimmAutoAugment", "create_operators"]
