"""Build a class named in a PaddleClas config from a registry, with errors naming the key.

PaddleClas builds ops, losses, metrics, LR schedules and optimizers by looking the YAML name
up and calling the class with the YAML keys; a wrong key then surfaces as a bare TypeError.
Here every such construction goes through one place that names the unknown or missing key
and lists the valid ones.
"""
import difflib
import inspect
from .cli import InvalidValueError


def unknown_keys_message(unknown, valid, where=""):
    """The one wording of every unknown-key error in a config, e.g. ``unknown key 'epoch' in
    Global (did you mean 'epochs'?); valid keys: checkpoints, ...``; ``where`` is the dotted
    section (empty: the top level). Callers prefix the config file when they know it."""
    unknown, valid = sorted(map(str, unknown)), sorted(map(str, valid))
    close = {k: difflib.get_close_matches(k, valid, n=1, cutoff=0.6) for k in unknown}
    hints = [f"{c[0]!r}" + (f" for {k!r}" if len(unknown) > 1 else "")
             for k, c in close.items() if c]
    place = f"in {where}" if where else "at the top level"
    return (f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"{place}{' (did you mean ' + ', '.join(hints) + '?)' if hints else ''}; "
            f"valid keys: {', '.join(valid) or '(none)'}")


def op_keywords(cls):
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def check_keywords(name, kwargs, cls, where):
    """Unknown or missing keys of ``cls(**kwargs)`` -> ValueError naming them and the valid
    ones (instead of a bare TypeError)."""
    params = inspect.signature(cls.__init__).parameters
    valid = op_keywords(cls)
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = set(kwargs) - set(valid)
        if unknown:
            raise InvalidValueError(unknown_keys_message(unknown, valid, f"{where} ({name})"))
    missing = [k for k, p in params.items() if k != "self" and p.default is p.empty
               and p.kind is p.POSITIONAL_OR_KEYWORD and k not in kwargs]
    if missing:
        raise InvalidValueError(f"{where}: {name} needs key(s) {missing}; valid keys: "
                                f"{', '.join(valid)}")


def build_op(name, kwargs, registry, where="transform_ops"):
    """Instantiate ``registry[name](**kwargs)`` with errors that name the op and its keys."""
    if name not in registry:
        raise InvalidValueError(f"Unknown op {name!r} in {where}; valid ops: {', '.join(registry)}")
    cls = registry[name]
    if kwargs is not None and not isinstance(kwargs, dict):
        raise InvalidValueError(f"{where}: the keys of op {name} must be a mapping such as "
                                f"'- {name}: {{key: value}}', got {kwargs!r}")
    kwargs = {} if kwargs is None else dict(kwargs)
    check_keywords(f"op {name}", kwargs, cls, where)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, AssertionError) as exc:
        raise InvalidValueError(f"{where}: op {name} rejected {kwargs}: {exc}") from exc


def split_entry(entry, where, what="op", example=None):
    """A ``{Name: {key: value}}`` list entry of a PaddleClas config -> (name, keys)."""
    if not isinstance(entry, dict) or len(entry) != 1:
        like = f" like '{example}'" if example else ""
        raise InvalidValueError(
            f"{where}: each {what} must be a one-key mapping{like}, got {entry!r}")
    return next(iter(entry.items()))
