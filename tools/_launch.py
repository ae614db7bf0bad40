"""Shared entry for tools/train.py, eval.py, infer.py.

Runs this project's engine, or, when ``PADDLECLAS_ROOT`` names a PaddleClas source checkout,
registers E-ConvNeXt into it and hands the same config to PaddleClas's own ``Engine``.
A user mistake ends in one ``error:`` line; ``PPCLS_DEBUG=1`` shows the full traceback instead
(the one-line form would also hide a programming error behind a ValueError/TypeError).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def run(mode, description):
    from ppcls_ext.engine.config import ConfigError, load_config, parse_args

    args = parse_args(description)
    try:
        if os.environ.get("PADDLECLAS_ROOT"):
            return _run_paddleclas(mode, args)
        from ppcls_ext.engine import Engine

        config = load_config(args.config, args.override)
        engine = Engine(config, mode=mode)
        return getattr(engine, mode)()
    except (ConfigError, FileNotFoundError, ValueError, TypeError, RuntimeError) as exc:
        if debug_enabled():
            raise
        # One clear line for the user; the traceback adds nothing to a config/data mistake.
        print(f"error: {exc} (PPCLS_DEBUG=1 shows the traceback)", file=sys.stderr)
        sys.exit(2)


def debug_enabled():
    return os.environ.get("PPCLS_DEBUG", "").strip().lower() in ("1", "true", "yes")


def _run_paddleclas(mode, args):
    import ppcls_ext  # noqa: F401  registers EConvNeXt_* into the checkout's ppcls.arch
    from ppcls_ext.io import guard_paddle_load

    guard_paddle_load()  # PaddleClas's engine calls paddle.load on checkpoints itself
    from ppcls.engine.engine import Engine
    from ppcls.utils import config as ppcls_config

    config = ppcls_config.get_config(args.config, overrides=args.override, show=False)
    config.profiler_options = None
    engine = Engine(config, mode=mode)
    return getattr(engine, mode)()
