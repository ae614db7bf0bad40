"""Register E-ConvNeXt into PaddleClas's arch registry and build models from configs.

PaddleClas's ``build_model`` resolves ``Arch.name`` with ``getattr`` on its ``ppcls.arch``
module (``RecModel`` does the same through ``eval`` in that module's namespace), so adding
the factories as module attributes is all a registration takes; no PaddleClas file changes.
"""
import difflib
import importlib
import inspect
import logging

from ppcls_infer.cli import UserError

from . import _ppcls, patching
from .arch import MODEL_NAMES, econvnext
from .factory import unknown_keys_message
from .validation import ConfigError

FACTORIES = {name: getattr(econvnext, name) for name in MODEL_NAMES}

PREFIX = "ppcls.register."


class ArchKeywordError(UserError, TypeError):
    """An ``Arch`` keyword the model does not take (a config mistake: one line)."""


# Keys PaddleClas's build_model consumes itself before calling the factory.
_BUILD_MODEL_KEYS = {"name", "use_sync_bn", "use_ml_decoder"}
# Keys PaddleClas's ExportModel reads from Arch (the factory never sees them).
_EXPORT_KEYS = {"infer_add_softmax"}


def register(arch_module=None):
    """Add the E-ConvNeXt factories to ``arch_module`` (default: every PaddleClas found, a
    checkout named by ``PADDLECLAS_ROOT`` first, then the wheel). Idempotent; recorded by
    ``ppcls_ext.patching`` (:func:`unregister` removes them).

    Returns the registered modules' names.
    """
    modules = [arch_module] if arch_module is not None else [
        importlib.import_module(f"{pkg}.arch") for pkg in _ppcls.arch_packages()]

    def add(module):
        def patch(rec):
            for name, factory in FACTORIES.items():
                rec.setattr(module, name, factory)
                # ``from ppcls.arch.backbone import *`` users find them there too.
                rec.setattr(module.backbone, name, factory)
        return patch

    for module in modules:
        patching.apply(f"{PREFIX}{module.__name__}", add(module))
    if arch_module is None and len(modules) > 1:
        patching.apply(f"{PREFIX}shared_logger", _share_logger)
    if arch_module is None:
        # no code from configs: model and layer names by lookup, never eval (safe_names);
        # every paddle.load (the wheel's load_dygraph_pretrain for a stock backbone's
        # Arch.pretrained included) through the pickle scan
        from . import safe_names
        from .io import guard_paddle_load

        patching.apply(f"{PREFIX}safe_names", lambda rec: safe_names.install(rec))
        guard_paddle_load()
    return [m.__name__ for m in modules]


def _share_logger(rec):
    """A checkout beside the wheel: the wheel's ``paddleclas.py`` runs ``init_logger()`` on
    import; the checkout's copy of ``utils.logger`` has its own ``_logger = None`` and would add
    a second stdout handler to the same "ppcls" logging.Logger (every line printed twice). Its
    ``init_logger`` skips the handler when ``_logger`` already holds one, so point it there."""
    shared = logging.getLogger("ppcls")
    if not any(h.get_name() == "stream_handler" for h in shared.handlers):
        return
    for module in _ppcls.ppcls_logger_modules():
        if getattr(module, "_logger", False) is None:
            rec.setattr(module, "_logger", shared)


def unregister():
    """Remove what :func:`register` added (tests)."""
    patching.undo_all(PREFIX)


def _arch_module():
    return _ppcls.ppcls_module("arch")


def available_models():
    """Every name ``Arch.name`` accepts: PaddleClas's backbones and models plus E-ConvNeXt."""
    module = _arch_module()
    return sorted(n for n, obj in vars(module).items()
                  if not n.startswith("_") and callable(obj) and n[0].isupper())


def _check_arch(arch_config):
    if not isinstance(arch_config, dict) or "name" not in arch_config:
        raise ConfigError("The config's Arch section must be a mapping with a 'name', e.g. "
                          "Arch: {name: EConvNeXt_tiny, class_num: 1000}")
    name = arch_config["name"]
    target = getattr(_arch_module(), name, None) if isinstance(name, str) else None
    if target is None or not callable(target):
        close = difflib.get_close_matches(str(name), available_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"Unknown Arch.name {name!r}.{hint} E-ConvNeXt models: "
                          f"{', '.join(FACTORIES)}; any PaddleClas model name is valid too "
                          f"({len(available_models())} known, see ppcls_ext.available_models()).")
    params = inspect.signature(target).parameters
    if name in FACTORIES:  # their **kwargs are the EConvNeXt keywords, checked here by name
        params = {"pretrained", "use_ssld", *econvnext.VALID_KWARGS}
    elif any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # **kwargs: forwarded further, PaddleClas checks them itself
    unknown = set(arch_config) - _BUILD_MODEL_KEYS - _EXPORT_KEYS - set(params)
    if unknown:
        raise ArchKeywordError(unknown_keys_message(unknown, _BUILD_MODEL_KEYS | _EXPORT_KEYS |
                                                    set(params),
                                             f"Arch ({name})"))


def build_model(config, mode="train"):
    """PaddleClas's ``build_model`` with a clear error for an unknown name or keyword
    (calls :func:`register` first, so every E-ConvNeXt name resolves)."""
    register()
    _check_arch(config.get("Arch"))
    if config.get("Slim"):
        # The wheel's build_model would apply PaddleClas's own QAT (every Conv2D/Linear, before
        # any weights are loaded); ppcls_ext.slim.qat wraps the model instead (Engine, export).
        config = {k: v for k, v in config.items() if k != "Slim"}
    if _EXPORT_KEYS & set(config["Arch"]):
        config = dict(config, Arch={k: v for k, v in config["Arch"].items()
                                    if k not in _EXPORT_KEYS})
    return _arch_module().build_model(config, mode)
