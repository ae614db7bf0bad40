"""Load weights into a model, from a path/URL or from a state dict already read.

As PaddleClas's ``load_dygraph_pretrain`` (``ppcls/utils/save_load.py``), but tolerant of a
classifier of another width (fine-tuning to a new class count), converting float16/bfloat16
weights to the model's dtype, and explicit about every key it did not use.
"""
from .._ppcls import logger
from .errors import WeightsFileError
from .paths import describe_weights, resolve_weights_path
from .state_dict import match_state_dict, read_state_dict


def read_weights(weights, use_ema=False, action=None):
    """``(state dict, path)`` for ``weights``: a path/prefix/URL (resolved with
    ``resolve_weights_path`` and read once) or a ``(state, path)`` pair / plain dict that a
    caller has already read (returned as is, so no file is read or unpickled twice).
    ``use_ema``: the checkpoint's EMA weights (``Global.use_ema_weights``); ``action``
    (e.g. ``"evaluating"``): log which weights were chosen, with ``describe_weights``."""
    if isinstance(weights, dict):
        return weights, "<state dict>"
    if isinstance(weights, tuple):
        return weights
    path = resolve_weights_path(weights, use_ema=use_ema)
    if action:
        logger.info(describe_weights(path, action, use_ema))
    return read_state_dict(path), path


def load_pretrained(model, weights):
    """Load ``weights`` into ``model``; returns the ``match_state_dict`` report (+ ``path``).

    ``weights``: a ``.pdparams``/``.pdema``/``.safetensors`` file, a prefix without suffix, an
    http(s) URL, or an already-read ``(state dict, path)`` pair (see ``read_weights``).
    Raises FileNotFoundError for a missing file, ValueError for an unreadable one or for a
    shape (or non-float dtype) mismatch outside the classifier.
    """
    state, path = read_weights(weights)
    report = match_state_dict(model.state_dict(), state)
    if report["mismatched"]:
        raise WeightsFileError(
            f"{path!r} does not fit this model (shape mismatch outside the "
            f"classifier or a dtype clash; wrong variant?) in {len(report['mismatched'])} "
            f"tensors: {report['mismatched'][:5]}")
    if not report["loadable"]:
        raise WeightsFileError(
            f"{path!r} shares no parameter name with this model (it has e.g. "
            f"{report['unexpected'][:3]}, the model wants e.g. "
            f"{report['missing'][:3]}); is it an E-ConvNeXt checkpoint? Authors' "
            "checkpoints need tools/convert_weights.py --arch first.")
    if report["cast"]:
        logger.info("%d tensors of %s converted to the model's dtype, e.g. %s",
                    len(report["cast"]), path, report["cast"][:3])
    if report["skipped_head"]:
        logger.warning("Classifier not loaded (class count differs, fine-tuning): %s",
                       "; ".join(report["skipped_head"]))
    if report["missing"]:
        logger.warning("%d model parameters not in %s, left at their init: %s",
                       len(report["missing"]), path, report["missing"][:10])
    if report["unexpected"]:
        logger.warning("%d checkpoint entries unused by the model: %s",
                       len(report["unexpected"]), report["unexpected"][:10])
    model.set_state_dict(report["loadable"])
    logger.info("Loaded weights from %s", path)
    report["path"] = path
    return report
