"""Names from configs resolve through module namespaces, never through ``eval``.

The paddleclas wheel and PaddleDetection turn config strings into objects with ``eval``:
``RecModel`` its ``Backbone.name``, ``DistillationModel``/``AttentionModel`` each
``models[i].<key>.name``, backbones their ``norm_layer``/``act``/``block_unit``/``lr_mult_list``
keywords, ppdet's necks and ``AdamWDL`` their ``block_fn``/``stage_fn``/``set_param_lr_func``.
A config naming ``__import__('os').system(...)`` there runs it.

``install()`` gives each of those modules a module-level ``eval`` (Python looks a name up in
the module's globals before the builtins, so the library code is unchanged) that accepts only:

* a Python literal (``"[1.0, 1.0]"``: ``ast.literal_eval``) or a fraction of two numbers
  (PaddleClas's ``"1.0/255.0"``), or
* a (dotted) name without dunder parts, looked up in that module's namespace, whose object
  is a class, a function of Paddle/PaddleClas/PaddleDetection/this project, or plain data.
  In the arch registry modules (``ppcls.arch``) only plain names of models are valid: a
  ``paddle.nn.Layer`` class or a backbone factory function (``ppcls.arch.backbone``,
  ``ppcls_ext.arch``), not helpers such as ``load_dygraph_pretrain``.

Anything else raises ``UnsafeNameError`` naming the string. Applied (through
``ppcls_ext.patching``, undoable) by ``ppcls_ext.register()`` and ``ppcls_ext.det.install()``.
"""
import ast
import builtins
import importlib
import inspect
import re

from ppcls_infer.cli import InvalidValueError

# Modules of the installed libraries whose code calls eval() on config strings (a test
# greps the installed sources for new ones). Relative to the package prefix.
PPCLS_MODULES = (
    "arch", "arch.gears",
    "arch.backbone.legendary_models.pp_hgnet_v2", "arch.backbone.legendary_models.pp_lcnet",
    "arch.backbone.model_zoo.foundation_vit", "arch.backbone.model_zoo.svtrnet",
    "arch.backbone.model_zoo.vision_transformer",
)
# A source checkout's engine side (absent from the wheel; skipped where not importable): its
# data, loss, metric and post-processing builders eval config names, and some ops eval
# strings such as NormalizeImage's "1.0/255.0" (PaddleClas develop, October 2024).
PPCLS_CHECKOUT_MODULES = (
    "data", "data.dataloader.dali", "data.postprocess",
    "data.preprocess.batch_ops.batch_operators", "data.preprocess.ops.operators",
    "data.preprocess.ops.randaugment", "data.preprocess.ops.random_erasing",
    "loss", "loss.distillationloss", "metric",
)
PPDET_MODULES = (
    "ppdet.modeling.backbones.trans_encoder", "ppdet.modeling.backbones.vision_transformer",
    "ppdet.modeling.necks.custom_pan", "ppdet.modeling.reid.pyramidal_embedding",
    "ppdet.modeling.reid.resnet_embedding", "ppdet.optimizer.adamw",
)
# registry modules: a name there is a model name (RecModel/DistillationModel), nothing dotted
REGISTRY_SUFFIX = ".arch"
TRUSTED_PACKAGES = ("paddle", "paddleclas", "ppcls", "ppdet", "ppcls_ext")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_DATA = (dict, list, tuple, str, int, float, bool, type(None))
_NUMBER = r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*"
_FRACTION = re.compile(f"^{_NUMBER}/{_NUMBER}$")


class UnsafeNameError(InvalidValueError):
    """A config string that would have been evaluated as code."""


def _allowed(obj):
    if isinstance(obj, type):
        return True
    if inspect.isfunction(obj):
        return (obj.__module__ or "").split(".")[0] in TRUSTED_PACKAGES
    return isinstance(obj, _DATA)


def _is_model(obj):
    """A registry entry: a ``paddle.nn.Layer`` class or a backbone factory function."""
    import paddle

    if isinstance(obj, type):
        return issubclass(obj, paddle.nn.Layer)
    module = getattr(obj, "__module__", "") or ""
    return inspect.isfunction(obj) and (".arch.backbone" in module
                                        or module.startswith("ppcls_ext.arch"))


def resolver(namespace, module_name, registry=False):
    """A replacement for ``eval`` inside module ``module_name`` (globals ``namespace``)."""
    def safe_eval(expr, *_ignored):
        if not isinstance(expr, str):
            raise UnsafeNameError(f"{module_name}: expected a name, got {type(expr).__name__}")
        text = expr.strip()
        if not registry:
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass
            if _FRACTION.match(text):  # PaddleClas's "1.0/255.0" (NormalizeImage.scale)
                num, den = text.split("/")
                if float(den) != 0:
                    return float(num) / float(den)
        parts = text.split(".")
        ok = bool(_NAME.match(text)) and not any(p.startswith("__") for p in parts) \
            and not (registry and len(parts) > 1)
        obj = None
        if ok:
            obj = namespace.get(parts[0], _MISSING)
            for part in parts[1:]:
                obj = getattr(obj, part, _MISSING)
            ok = obj is not _MISSING and (_is_model(obj) if registry else _allowed(obj)) \
                and obj is not getattr(builtins, parts[-1], object())
        if not ok:
            kind = "a registered model name" if registry else "a name or a literal"
            raise UnsafeNameError(
                f"config value {expr!r} is not {kind} known to {module_name}; config names "
                "are looked up, never evaluated as code")
        return obj
    safe_eval.__ppcls_ext_safe_eval__ = True
    return safe_eval


_MISSING = object()


def _patch(module, rec=None):
    if getattr(getattr(module, "eval", None), "__ppcls_ext_safe_eval__", False):
        return False
    safe = resolver(vars(module), module.__name__,
                    registry=module.__name__.endswith(REGISTRY_SUFFIX))
    if rec is not None:
        rec.setattr(module, "eval", safe)
    else:
        module.eval = safe
    return True


def _import(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def install(rec=None, ppcls_prefixes=None, ppdet=False):
    """Patch the eval sites of every PaddleClas found (``ppcls_prefixes``: default those of
    ``ppcls_ext._ppcls.arch_packages()``) and, with ``ppdet=True``, PaddleDetection's.
    ``rec``: a ``ppcls_ext.patching`` recorder (undoable). Returns the patched module names."""
    if ppcls_prefixes is None:
        from . import _ppcls

        ppcls_prefixes = _ppcls.arch_packages()
    names = [f"{p}.{m}" for p in ppcls_prefixes
             for m in PPCLS_MODULES + PPCLS_CHECKOUT_MODULES]
    if ppdet:
        names += list(PPDET_MODULES)
    patched = []
    for name in names:
        module = _import(name)
        if module is not None:
            _patch(module, rec)
            patched.append(name)
    return patched
