"""Lazy package exports (PEP 562): a package's names are imported on first use, so that
importing one light submodule (e.g. ``ppcls_ext.engine.data.digits``) imports no Paddle."""
import importlib


def lazy_exports(package, namespace, exports):
    """``(__getattr__, __dir__, __all__)`` for ``package`` whose ``exports`` map a public name
    to the relative module that defines it (``".arch"``), or to ``(module, None)`` for the
    submodule itself. Each name is imported once, then cached in ``namespace``."""
    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = exports[name]
        module, attr = target if isinstance(target, tuple) else (target, name)
        value = importlib.import_module(module, package)
        if attr is not None:
            value = getattr(value, attr)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__, sorted(exports)
