"""``Global`` switches PaddleClas's engine reads that change how the model runs.

``to_static``: as PaddleClas's ``ppcls.arch.apply_to_static`` does, the model's ``forward`` is
converted by ``paddle.jit.to_static`` (input spec ``[None] + Global.image_shape`` when given)
for training, evaluation and inference alike. The conversion replaces ``forward`` only:
parameters, ``state_dict`` keys and so checkpoints stay those of the dygraph model.

``use_dali`` and ``eval_mode`` select code this engine does not have (NVIDIA DALI loaders;
retrieval / AdaFace evaluation): a config asking for them is refused with one line instead
of silently running something else.
"""
import paddle
from paddle.static import InputSpec

from .._ppcls import logger
from ..validation import ConfigError

EVAL_MODES = ("classification",)


def check_supported(g):
    """Refuse ``Global`` values that name features this engine does not implement."""
    if g.get("use_dali", False):
        raise ConfigError("Global.use_dali=True: NVIDIA DALI loading is not implemented by this "
                          "engine (and needs a GPU); set Global.use_dali=False, or run "
                          "PaddleClas's own engine with PADDLECLAS_ROOT=/path/to/PaddleClas")
    mode = g.get("eval_mode", "classification")
    if mode not in EVAL_MODES:
        raise ConfigError(f"Global.eval_mode={mode!r} is not implemented by this engine (valid: "
                          f"{', '.join(EVAL_MODES)}); retrieval and adaface evaluation need "
                          "PaddleClas's own engine (PADDLECLAS_ROOT=/path/to/PaddleClas)")


def apply_to_static(g, model):
    """``Global.to_static: True`` -> ``paddle.jit.to_static(model, input_spec)``, in place."""
    if not g.get("to_static", False):
        return model
    specs = None
    if g.get("image_shape"):
        specs = [InputSpec([None] + list(g["image_shape"]), "float32", name="x",
                           stop_gradient=True)]
    # PaddleClas passes Paddle's defaults (SOT bytecode capture, which falls back to dygraph
    # for code it cannot capture). full_graph=True converts the whole forward into one
    # program instead (E-ConvNeXt is plain tensor code), so a user who asked for a static
    # graph gets one or a clear error, never a silent partial fallback.
    static = paddle.jit.to_static(model, input_spec=specs, full_graph=True)
    logger.info(f"Global.to_static: the model runs as a static graph (input spec {specs})")
    return static
