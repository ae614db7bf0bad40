"""The command-line harness shared by tools/, tools/det/ and deploy/python/ (Paddle-free).

* :func:`make_parser`: ``-c CONFIG`` and ``-o KEY=VALUE``, taking both PaddleClas's repeated
  form (``-o a=1 -o b=2``) and PaddleDetection's (``-o a=1 b=2``), into ``args.override``.
* :func:`parse_overrides` / :func:`apply_overrides`: one ``-o`` parser for every tool. Keys are
  dotted paths with list indices (``PreProcess.transform_ops.0.ResizeImage.resize_short=256``)
  as PaddleClas's ``ppcls.utils.config.override``; values are YAML literals
  (``yaml.safe_load``: ``10`` -> int, ``false`` -> bool, ``[1, 2]`` -> list, anything else a
  string), never evaluated as Python (PaddleClas's ``str2num`` calls ``eval``, PaddleDetection's
  ``ArgsParser`` uses the unsafe ``yaml.Loader``). A path through a section that does not exist
  is refused with one line.
* :func:`select_device`: ``paddle.set_device`` with one clear line when the device is missing.
* :func:`run`: the error policy. A :class:`UserError` (the project raises its subclasses for
  every mistake in user input: :class:`InvalidValueError`, :class:`MissingPathError`,
  :class:`OverrideError`, :class:`DeviceError`, ``ppcls_ext.validation.ConfigError`` ...) ends
  in one ``error:`` line and exit status 2; anything else, a plain ValueError included, is a
  bug and keeps its traceback. ``PPCLS_DEBUG=1`` shows the traceback of user errors too.
"""
import argparse
import ast
import difflib
import errno
import logging
import os
import sys
import warnings
from collections.abc import Mapping, MutableSequence

import yaml

DEBUG_ENV = "PPCLS_DEBUG"
DEVICES = ("cpu", "gpu", "xpu", "npu", "mlu")


class UserError(Exception):
    """A mistake of the user's (command line, config, path, device): reported as one line."""


class InvalidValueError(UserError, ValueError):
    """A value the user gave (a config key, a ``-o`` item, a flag, a data or label file) that
    is not valid; the message names it and what would be. A ValueError for Python callers."""


class InvalidTypeError(UserError, TypeError):
    """A value the user gave of the wrong kind (e.g. a number where a path is expected); the
    message names it and what would be valid. A TypeError for Python callers."""


class MissingPathError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist. A FileNotFoundError for callers."""


class OverrideError(InvalidValueError):
    """A ``-o`` override that is malformed or names a key that does not exist."""


class DeviceError(UserError, RuntimeError):
    """The requested device is not available in this Paddle build / machine."""


# What the tools report as one line: the project's UserError subclasses only. A plain
# ValueError, FileNotFoundError, KeyError ... is a bug and keeps its traceback; code that
# reads user input raises InvalidValueError / MissingPathError (or ConfigError, DataError,
# WeightsFileError ... in ppcls_ext), which stay ValueError / FileNotFoundError for callers.
USER_ERRORS = (UserError,)


def debug_enabled():
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def report(exc):
    """Print a user error as one ``error:`` line on stderr and return its exit status (2, or
    the error's ``exit_status``: 128 + signal for a training stopped by a signal); with
    ``PPCLS_DEBUG=1`` re-raise it instead (call inside the ``except`` block)."""
    if debug_enabled():
        raise exc
    message = " ".join(str(exc).split()) or type(exc).__name__
    print(f"error: {message} ({DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
    return getattr(exc, "exit_status", None) or 2


# OSErrors that are the machine's state, not a bug: one line naming the path
DISK_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EDQUOT: "the disk quota is exceeded"}


def quiet_import_noise():
    """For a tool's process (``run`` calls it; importing this module does not): drop the lines
    libraries print when imported that say nothing about the run: Paddle's "No ccache found"
    UserWarning (about compiling C++ extensions, which no tool does) and faiss's two INFO lines
    (the paddleclas wheel imports faiss for retrieval). Everything else is left as it is."""
    warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def run(main, *args, user_errors=USER_ERRORS, **kwargs):
    """Call ``main(*args, **kwargs)`` under the error policy; returns its result, or exits with
    status 2 after one ``error:`` line on stderr for a user error (traceback with PPCLS_DEBUG=1).
    A full disk, read-only folder or missing permission is one line too; Ctrl-C outside
    training is ``error: interrupted`` with status 130. Library import noise is dropped first
    (:func:`quiet_import_noise`)."""
    quiet_import_noise()
    try:
        return main(*args, **kwargs)
    except user_errors as exc:
        sys.exit(report(exc))
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS or debug_enabled():
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: cannot write {where}{DISK_ERRNOS[exc.errno]} (errno {exc.errno}) "
              f"({DEBUG_ENV}=1 shows the traceback)", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if debug_enabled():
            raise
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        sys.exit(130)


def console_script(namespace, name):
    """The console-script form of the command ``namespace[name]`` (a tool's ``main(argv=None)``).

    setuptools' script wrappers call ``sys.exit(<return value>)``; a command returns its result
    (metrics, a Trainer, the written paths) for Python callers, which would make a successful
    run exit 1. The script returns 0 instead (a user error has already exited with status 2).
    The command is looked up at call time, so tests may replace it."""
    def main():
        namespace[name]()
        return 0

    main.__name__ = main.__qualname__ = f"{name}_script"
    main.__doc__ = f"Console-script form of ``{name}`` (exit status 0 on success)."
    return main


def add_override_argument(parser, example="Global.epochs=10"):
    parser.add_argument("-o", "--override", "--opt", dest="override", action="extend",
                        nargs="+", default=[], metavar="KEY=VALUE",
                        help=f"override a config value, e.g. -o {example} (repeat -o, or "
                             "give several after one -o); values are YAML literals")
    return parser


def make_parser(description=None, config_required=True, example="Global.epochs=10"):
    """``argparse`` parser with ``-c/--config`` and ``-o`` (see :func:`add_override_argument`;
    ``example``: a key of the tool's own configs for the help text)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", required=config_required, help="YAML config")
    return add_override_argument(parser, example)


def parse_value(text):
    """A ``-o`` value as a YAML literal (``yaml.safe_load``: ``10``, ``0.1``, ``false``,
    ``null``, ``[224, 224]``, ``{a: 1}``); a string that is a Python literal (``None``,
    ``True``, ``(1, 2)``, as PaddleClas users write them) through ``ast.literal_eval``, which
    evaluates literals only; anything else stays text. Nothing is ever executed."""
    if text == "":
        return ""
    from .bounded_yaml import YAMLBombError, safe_load

    try:
        value = safe_load(text)  # aliases bounded: no billion laughs in one -o value
    except YAMLBombError as exc:
        raise OverrideError(f"-o value {text[:60]!r}...: {exc}") from None
    except yaml.YAMLError:
        value = text
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return value
    return value


def parse_overrides(items):
    """``["a.b=1", "c.0=x"]`` -> ``[(["a", "b"], 1), (["c", "0"], "x")]``."""
    parsed = []
    for item in items or ():
        key, sep, value = str(item).partition("=")
        key = key.strip()
        parts = key.split(".")
        if not sep or not key or any(not p for p in parts):
            raise OverrideError(f"-o {item!r} is not KEY=VALUE (e.g. -o Global.epochs=10, "
                                "-o PreProcess.transform_ops.0.ResizeImage.resize_short=256)")
        parsed.append((parts, parse_value(value.strip())))
    return parsed


def _unknown(path, key, choices, item):
    close = difflib.get_close_matches(str(key), [str(c) for c in choices], n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    where = ".".join(path) or "the top level"
    return OverrideError(f"-o {item}: {where} has no key {key!r}{hint}")


def _child(node, key, path, item, create):
    """(container, key) of the next step; ``create`` adds a missing mapping key."""
    if isinstance(node, MutableSequence):
        try:
            index = int(key)
        except ValueError:
            raise OverrideError(f"-o {item}: {'.'.join(path)} is a list; {key!r} is not an "
                                "index") from None
        if not -len(node) <= index < len(node):
            raise OverrideError(f"-o {item}: index {index} is out of range for "
                                f"{'.'.join(path)} ({len(node)} items)")
        return node, index
    if isinstance(node, Mapping):
        if key not in node and not create:
            raise _unknown(path, key, node.keys(), item)
        return node, key
    if hasattr(node, key):  # an object built by a YAML tag (e.g. PaddleDetection's datasets)
        return node, key
    raise _unknown(path, key, [k for k in vars(node) if not k.startswith("_")]
                   if hasattr(node, "__dict__") else [], item)


def _get(container, key):
    if isinstance(container, (Mapping, MutableSequence)):
        return container[key]
    return getattr(container, key)


def _set(container, key, value):
    if isinstance(container, (Mapping, MutableSequence)):
        container[key] = value
    else:
        setattr(container, key, value)


def apply_overrides(config, overrides, new_key=lambda path: True,
                    new_section=lambda path: False):
    """Apply ``-o`` items (strings ``KEY=VALUE``) to ``config`` in place; returns it.

    Every step of a dotted path must exist (mappings by key, lists by index, objects by
    attribute), as in PaddleClas's ``override``; only the last key may be new, where
    ``new_key(path)`` allows it (PaddleClas allows any, its config validation refuses unknown
    names afterwards), and a missing section is created where ``new_section(path)`` allows it
    (e.g. ``-o AMP.use_amp=true`` on a config without ``AMP``; everything below a created
    section is new too). Raises :class:`OverrideError` with one line.
    """
    for parts, value in parse_overrides(overrides):
        item = ".".join(parts)
        node, created = config, False
        for depth, key in enumerate(parts):
            last = depth == len(parts) - 1
            if not last and isinstance(node, Mapping) and key not in node \
                    and (created or new_section(parts[:depth + 1])):
                node[key], created = {}, True
            container, key = _child(node, key, parts[:depth], item,
                                    create=last and (created or new_key(parts)))
            if last:
                _set(container, key, value)
            else:
                node = _get(container, key)
    return config


def select_device(name, option="Global.device"):
    """``paddle.set_device(name)`` for ``name`` in cpu/gpu/xpu/npu/mlu; returns the name.

    Raises :class:`DeviceError` (one line naming ``option``, the config key that chose the
    device) when Paddle is not built for it or no device is visible; ValueError for an
    unknown name. Paddle is imported here, not when this module is.
    """
    import paddle

    name = str(name or "cpu").lower()
    if name not in DEVICES:
        raise OverrideError(f"{option} {name!r} is not valid; use one of {', '.join(DEVICES)}")
    cpu_hint = f"-o {option}=cpu" if option == "Global.device" else f"-o {option}=false"
    if name == "gpu":
        if not paddle.device.is_compiled_with_cuda():
            raise DeviceError(
                f"{option} asks for the GPU but this Paddle {paddle.__version__} is a CPU build "
                f"(no CUDA): install the CUDA build (paddlepaddle-gpu), or run on the CPU with "
                f"{cpu_hint}")
        if paddle.device.cuda.device_count() == 0:
            raise DeviceError(f"{option} asks for the GPU but no CUDA device is visible (check "
                              f"CUDA_VISIBLE_DEVICES / the driver), or pass {cpu_hint}")
    elif name in ("xpu", "npu", "mlu") and not paddle.device.is_compiled_with_custom_device(name) \
            and not getattr(paddle.device, f"is_compiled_with_{name}", lambda: False)():
        raise DeviceError(f"{option} asks for {name.upper()} but this Paddle "
                          f"{paddle.__version__} is not built for it; use {cpu_hint}")
    paddle.set_device(name)
    return name
