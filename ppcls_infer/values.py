"""Type and range of config values, as a table ``{dotted key pattern: spec}`` checked in one
pass (``check_values``): the training config (``ppcls_ext.validation``), the detection config
(``ppcls_ext.det.values``) and the deploy predictors' configs use it. Plain Python (no Paddle),
so deployment can import it. Bounds use JSON Schema's words (minimum, exclusiveMinimum, ...).
"""
import math
from collections.abc import Mapping

from .cli import InvalidValueError


class Number:
    """A number a config key must hold: ``kind`` int (a YAML integer; booleans, floats and
    quoted strings refused) or float (any finite number; a numeric string such as YAML 1.1's
    ``1e-3``, which PyYAML reads as text, is converted in place). ``nullable``: null/false
    mean "off" (as in PaddleClas's configs)."""

    def __init__(self, kind, minimum=None, maximum=None, exclusive_minimum=None,
                 exclusive_maximum=None, nullable=False, meaning=""):
        self.kind, self.nullable, self.meaning = kind, nullable, meaning
        self.minimum, self.maximum = minimum, maximum
        self.exclusive_minimum, self.exclusive_maximum = exclusive_minimum, exclusive_maximum

    def describe(self):
        noun = "an integer" if self.kind is int else "a number"
        low = (f"[{self.minimum}" if self.minimum is not None else
               f"({self.exclusive_minimum}" if self.exclusive_minimum is not None else None)
        high = (f"{self.maximum}]" if self.maximum is not None else
                f"{self.exclusive_maximum})" if self.exclusive_maximum is not None else None)
        if low and high:
            text = f"{noun} in {low}, {high}"
        elif low:
            text = f"{noun} {'>=' if low[0] == '[' else '>'} {low[1:]}"
        elif high:
            text = f"{noun} {'<=' if high[-1] == ']' else '<'} {high[:-1]}"
        else:
            text = noun
        if self.meaning:
            text += f" ({self.meaning})"
        return text + (", or null" if self.nullable else "")

    def convert(self, value):
        """The value as this number, or raise ValueError (the caller names key and source)."""
        if self.nullable and (value is None or value is False):
            return value
        if isinstance(value, bool) or value is None:
            raise ValueError
        if self.kind is int:
            if not isinstance(value, int):
                raise ValueError
        elif isinstance(value, str):
            value = float(value)  # ValueError for text that is no number
        elif not isinstance(value, (int, float)):
            raise ValueError
        if not math.isfinite(value) \
                or (self.minimum is not None and value < self.minimum) \
                or (self.maximum is not None and value > self.maximum) \
                or (self.exclusive_minimum is not None and value <= self.exclusive_minimum) \
                or (self.exclusive_maximum is not None and value >= self.exclusive_maximum):
            raise ValueError
        return value


class Ints:
    """Integers >= 1: a list of one of ``lengths`` (None: any non-empty list), or also a single
    integer when ``scalar`` (``Global.image_shape`` [C, H, W]; a resize or crop size, a side
    or [w, h]; ``TopkAcc.topk``)."""

    def __init__(self, lengths, meaning, scalar=False, nullable=False):
        self.lengths, self.meaning = lengths, meaning
        self.scalar, self.nullable = scalar, nullable

    def describe(self):
        count = " or ".join(map(str, self.lengths)) if self.lengths else "one or more"
        text = f"a list of {count} integers >= 1"
        if self.scalar:
            text = "an integer >= 1 or " + text
        return f"{text} ({self.meaning})" + (", or null" if self.nullable else "")

    def convert(self, value):
        def whole(v):
            return isinstance(v, int) and not isinstance(v, bool) and v >= 1
        if (self.nullable and value is None) or (self.scalar and whole(value)):
            return value
        if not isinstance(value, (list, tuple)) or not value or not all(map(whole, value)) \
                or (self.lengths and len(value) not in self.lengths):
            raise ValueError
        return value


class Section:
    """A mapping (a section of keys), e.g. ``Optimizer.lr``."""

    def __init__(self, example):
        self.example = example

    def describe(self):
        return f"a mapping such as {self.example}"

    def convert(self, value):
        if not isinstance(value, Mapping):
            raise ValueError
        return value


def positive_int(meaning=""):
    return Number(int, minimum=1, meaning=meaning)


def fraction(meaning=""):
    """A rate in [0, 1): a decay, a smoothing epsilon, a drop rate, Adam's betas."""
    return Number(float, minimum=0, exclusive_maximum=1, meaning=meaning)


def non_negative(meaning="", nullable=False):
    return Number(float, minimum=0, nullable=nullable, meaning=meaning)


def positive(meaning="", nullable=False):
    return Number(float, exclusive_minimum=0, nullable=nullable, meaning=meaning)


class Boolean:
    """``true``/``false`` (YAML booleans; PaddleClas's deploy flags; the integers 0 and 1 of
    shell scripts are taken as such); text such as ``'yes'`` or ``'maybe'`` is refused rather
    than read as true."""

    def __init__(self, meaning=""):
        self.meaning = meaning

    def describe(self):
        return "true or false" + (f" ({self.meaning})" if self.meaning else "")

    def convert(self, value):
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        if not isinstance(value, bool):
            raise ValueError
        return value


def _children(node):
    if isinstance(node, Mapping):
        return list(node.items())
    if isinstance(node, list):
        return list(enumerate(node))
    return []


def _matches(node, pattern, path=()):
    """(dotted path, container, key) of every existing key of ``node`` matching ``pattern``
    (a list of names; ``*`` is any key or index)."""
    head, rest = pattern[0], pattern[1:]
    for key, child in _children(node):
        if head != "*" and str(key) != head:
            continue
        where = path + (str(key),)
        if rest:
            yield from _matches(child, rest, where)
        else:
            yield ".".join(where), node, key


def override_source(key, overrides):
    """The ``-o`` item that set ``key`` (dotted) or one of its sections, the last one given;
    None when the value comes from the file."""
    from .cli import parse_overrides

    found = None
    for item in overrides or ():
        parts, _ = parse_overrides([item])[0]
        name = ".".join(parts)
        if key == name or key.startswith(name + "."):
            found = item
    return found


def check_values(config, schema, path="<config>", overrides=(), error=InvalidValueError):
    """Check every key of ``config`` named by ``schema`` (``{dotted pattern: Number | Shape |
    Section | Boolean}``); numeric strings of float keys become floats in place. Raises
    ``error`` (an InvalidValueError) naming the key, where the value came from (the ``-o`` item or ``path``), what is valid
    and what was given."""
    for pattern, spec in schema.items():
        for key, container, name in list(_matches(config, pattern.split("."))):
            value = container[name]
            try:
                container[name] = spec.convert(value)
            except (ValueError, TypeError):
                item = override_source(key, overrides)
                where = f"-o {item}" if item else path
                hint = " (a quoted string: write the number without quotes)" \
                    if isinstance(value, str) and _numeric(value) else ""
                raise error(f"{where}: {key} must be {spec.describe()}, got "
                                  f"{value!r}{hint}") from None
    return config


def _numeric(text):
    try:
        float(text)
    except ValueError:
        return False
    return True
