"""PaddleDetection configs read as data: ``!Class`` tags of ppdet's own config classes only.

PaddleDetection's ``ppdet.core.workspace.load_config`` reads a config and each of its
``_BASE_`` files with ``yaml.Loader``, which also builds ``!!python/object/apply:`` tags (any
function call), and a base file may be any path. This module mirrors that function's
semantics (``_BASE_`` list resolved against the including file, ``~`` expanded, the including
file's keys win, ``filename`` set, the result merged into ppdet's ``global_config``) with:

* ``DetConfigLoader``: PyYAML's ``SafeLoader`` plus exactly the ``!Name`` tags that ppdet's
  ``serializable`` decorator registered for classes defined in ``ppdet`` or ``ppcls_ext``
  (the schedulers, data sources and operators its configs use) - except ``!Callable``, whose
  whole purpose is calling any importable function. Aliases are bounded as in
  ``ppcls_infer.bounded_yaml``.
* ``_BASE_`` files must lie inside the config's tree (the nearest enclosing folder named
  ``configs``, else the config's own folder) or this project's ``configs/``;
  ``allow_base_outside=True`` (the tools' ``--allow_base_outside`` flag) lifts that.

``patch`` points ``ppdet.core.workspace._load_config_with_base`` at the safe reader, so
ppdet's own ``load_config`` reads configs the same way.
"""
import os

import yaml

from ppcls_infer.bounded_yaml import BoundedSafeLoader, YAMLBombError
from ppcls_infer.cli import InvalidValueError

BASE_KEY = "_BASE_"
PROJECT_CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs")
# ppdet's serializable helper that imports and calls any function named in the config
REFUSED_TAGS = {"!Callable"}
TRUSTED_MODULES = ("ppdet.", "ppcls_ext.")


class DetConfigError(InvalidValueError):
    """A detection config that cannot be read as data, or a ``_BASE_`` outside the tree."""


def _registered_classes():
    """``{tag: class}`` of ppdet's ``serializable`` classes defined in trusted packages."""
    from .ppdet_import import import_ppdet

    import_ppdet()  # ppdet registers its tags on import

    classes = {}
    for tag, constructor in yaml.Loader.yaml_constructors.items():
        if not tag or not tag.startswith("!") or tag.startswith("!!") or tag in REFUSED_TAGS:
            continue
        if getattr(constructor, "__qualname__", "").split(".<locals>")[0] != \
                "_make_python_constructor":
            continue
        cells = [c.cell_contents for c in constructor.__closure__ or ()]
        cls = next((c for c in cells if isinstance(c, type)), None)
        if cls is not None and cls.__module__.startswith(TRUSTED_MODULES) \
                and tag == f"!{cls.__name__}":
            classes[tag] = cls
    return classes


def _class_constructor(cls):
    """ppdet's ``_make_python_constructor``: a sequence -> ``cls(*args)``, a mapping ->
    ``cls(**kwargs)``, built from already-safe data."""
    def construct(loader, node):
        if isinstance(node, yaml.SequenceNode):
            return cls(*loader.construct_sequence(node, deep=True))
        if isinstance(node, yaml.ScalarNode) and not node.value:
            return cls()
        return cls(**loader.construct_mapping(node, deep=True))
    return construct


def _unknown_tag(loader, suffix, node):
    raise yaml.constructor.ConstructorError(
        None, None, f"tag !{suffix} is not one of PaddleDetection's config classes (only "
        "their !Name tags are read; Python tags and !Callable are refused)", node.start_mark)


class DetConfigLoader(BoundedSafeLoader):
    """Filled by ``loader_class()``; a subclass so SafeLoader's table stays untouched."""


_LOADER = None


def loader_class():
    """The safe loader with the current ppdet tags (built once, after ppdet is imported)."""
    global _LOADER
    if _LOADER is None:
        loader = type("DetConfigLoader", (DetConfigLoader,), {})
        loader.yaml_constructors = dict(BoundedSafeLoader.yaml_constructors)
        loader.yaml_multi_constructors = dict(BoundedSafeLoader.yaml_multi_constructors)
        for tag, cls in _registered_classes().items():
            loader.add_constructor(tag, _class_constructor(cls))
        loader.add_multi_constructor("!", _unknown_tag)
        _LOADER = loader
    return _LOADER


def tree_root(path):
    """The folder ``_BASE_`` files of ``path`` must stay in: the nearest enclosing folder
    named ``configs`` (PaddleDetection's layout: ``configs/<model>/x.yml`` includes
    ``../datasets/...``), else the config's own folder."""
    folder = os.path.dirname(os.path.realpath(path))
    probe = folder
    while True:
        if os.path.basename(probe) == "configs":
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return folder
        probe = parent


def _inside(path, roots):
    real = os.path.realpath(path)
    return any(os.path.commonpath([real, os.path.realpath(r)]) == os.path.realpath(r)
               for r in roots)


def read_file(path):
    """One YAML file as data with ppdet's config tags (no ``_BASE_`` handling)."""
    try:
        with open(path, "rb") as f:
            return yaml.load(f, Loader=loader_class())
    except YAMLBombError as exc:
        raise DetConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise DetConfigError(f"{path}: not a valid PaddleDetection config: "
                             f"{' '.join(str(exc).split())}") from None


def load_with_base(path, allow_base_outside=False, _roots=None, _seen=()):
    """ppdet's ``_load_config_with_base``, safe: the merged config dict of ``path``."""
    from .ppdet_import import import_ppdet

    import_ppdet()
    from ppdet.core.workspace import AttrDict, merge_config

    roots = _roots or (tree_root(path), PROJECT_CONFIGS)
    real = os.path.realpath(path)
    if real in _seen:
        raise DetConfigError(f"{path}: _BASE_ files include each other in a loop")
    cfg = read_file(path)
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise DetConfigError(f"{path}: the top level must be a mapping of keys")
    if BASE_KEY not in cfg:
        return cfg
    bases = cfg.pop(BASE_KEY)
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise DetConfigError(f"{path}: _BASE_ must be a list of file paths")
    merged = AttrDict()
    for base in bases:
        base = os.path.expanduser(base)
        if not os.path.isabs(base):
            base = os.path.join(os.path.dirname(path), base)
        if not allow_base_outside and not _inside(base, roots):
            raise DetConfigError(
                f"{path}: _BASE_ file {base} is outside the config's tree "
                f"({roots[0]}) and this project's configs/; pass --allow_base_outside if you "
                "trust it")
        if not os.path.isfile(base):
            raise DetConfigError(f"{path}: _BASE_ file {base} does not exist")
        merged = merge_config(load_with_base(base, allow_base_outside, roots, _seen + (real,)),
                              merged)
    return merge_config(cfg, merged)


def load_config(path, allow_base_outside=False):
    """ppdet's ``load_config`` with the safe reader: merges into and returns ppdet's
    ``global_config``."""
    from ppdet.core import workspace

    ext = os.path.splitext(path)[1]
    if ext not in (".yml", ".yaml"):
        raise DetConfigError(f"{path}: a detection config must be a .yml or .yaml file")
    cfg = load_with_base(path, allow_base_outside)
    cfg["filename"] = os.path.splitext(os.path.basename(path))[0]
    workspace.merge_config(cfg)
    return workspace.global_config


def patch(rec):
    """Make ppdet's own ``load_config`` use the safe reader (a ``ppcls_ext.patching`` patch,
    applied by ``ppcls_ext.det.install()``)."""
    from ppdet.core import workspace

    rec.setattr(workspace, "_load_config_with_base", lambda file_path: load_with_base(file_path))
