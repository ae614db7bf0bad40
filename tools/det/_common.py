"""Shared set-up of tools/det/*.py: PaddleDetection's command line on this project.

Mirrors PaddleDetection's tools/*.py (release/2.6): ``-c`` config, ``-o key=value`` overrides
(ppdet's ``ArgsParser``), ``load_config`` + ``merge_config``, the device from ``use_gpu`` /
``use_xpu`` / ``use_npu`` / ``use_mlu``, then ppdet's ``Trainer``. Differences: ``import
ppcls_ext.det`` first (Paddle 3 patches, the EConvNeXt backbone), every ``paddle.load`` of a
file checked against the project's pickle allow-list, and a user mistake (missing
config or file, GPU asked of a CPU-only Paddle, unknown key) ends with one ``error:`` line
instead of a traceback or a multi-line log.
"""
import os
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
warnings.filterwarnings("ignore")  # as PaddleDetection's tools: Paddle's deprecation noise

import paddle  # noqa: E402

import ppcls_ext.det  # noqa: E402,F401  patches + registration
from ppcls_ext.io import guard_paddle_load  # noqa: E402

# PaddleDetection reads weights, -r checkpoints (.pdparams/.pdopt/.pdema) and pretrain_weights
# with paddle.load itself: route those pickles through the project's allow-list, as
# tools/_launch.py does for PaddleClas's engine.
guard_paddle_load()
from ppdet.core.workspace import load_config, merge_config  # noqa: E402
from ppdet.utils.cli import ArgsParser, merge_args  # noqa: E402

DEVICE_KEYS = (("use_gpu", "gpu", paddle.is_compiled_with_cuda),
               ("use_npu", "npu", lambda: paddle.is_compiled_with_custom_device("npu")),
               ("use_xpu", "xpu", paddle.is_compiled_with_xpu),
               ("use_mlu", "mlu", lambda: paddle.is_compiled_with_custom_device("mlu")))


class UserError(Exception):
    """A mistake of the user's (config, path, device): reported as one line."""


def parser():
    return ArgsParser()


def load(flags):
    """Config of ``-c`` with ``-o`` overrides and the command-line flags merged in."""
    if not flags.config:
        raise UserError("no config given: pass -c configs/detection/<name>.yml")
    if not os.path.isfile(flags.config):
        raise UserError(f"config file {flags.config} does not exist")
    cfg = load_config(flags.config)
    merge_args(cfg, flags)
    merge_config(flags.opt)
    for key, _, _ in DEVICE_KEYS:
        cfg.setdefault(key, False)
    # PaddleDetection's check_config, as one line instead of a log + exit
    for key in ("architecture", "num_classes"):
        if key not in cfg:
            raise UserError(f"{flags.config}: '{key}' is not set (in the file or a _BASE_ file)")
    if not isinstance(cfg.num_classes, int) or cfg.num_classes < 1:
        raise UserError(f"num_classes must be a positive integer, got {cfg.num_classes!r}")
    cfg.setdefault("log_iter", 20)
    return cfg


def select_device(cfg):
    """``paddle.set_device`` as PaddleDetection's tools do; one clear line when unavailable.

    PaddleDetection's ``check_gpu`` logs five lines and exits later; here the check comes
    before anything is built (the same rule as ppcls_ext.engine.device.select_device).
    """
    for key, name, compiled in DEVICE_KEYS:
        if cfg.get(key):
            if not compiled():
                raise UserError(f"{key} is true but this Paddle {paddle.__version__} is not "
                                f"built for {name.upper()}; install the {name} build of Paddle "
                                f"or pass -o {key}=false to run on the CPU")
            if name == "gpu" and paddle.device.cuda.device_count() == 0:
                raise UserError("use_gpu is true but no CUDA device is visible (check "
                                "CUDA_VISIBLE_DEVICES / the driver), or pass -o use_gpu=false")
            return paddle.set_device(name)
    return paddle.set_device("cpu")


def check_weights(path, key):
    """A weights path named by ``key`` must exist (with or without .pdparams)."""
    if path.startswith(("http://", "https://")):
        return path
    stem = path[:-len(".pdparams")] if path.endswith(".pdparams") else path
    if not (os.path.isfile(stem + ".pdparams") or os.path.isdir(stem)):
        raise UserError(f"{key} {path}: no such checkpoint ({stem}.pdparams does not exist)")
    return path


def default_output_eval(cfg):
    """bbox.json of evaluations next to the checkpoints rather than in the working directory."""
    if not cfg.get("output_eval"):
        name = os.path.splitext(os.path.basename(cfg.filename))[0]
        cfg.output_eval = os.path.join(cfg.get("save_dir", "output"), name)
        os.makedirs(cfg.output_eval, exist_ok=True)


def main_guard(fn):
    """Run ``fn``; user mistakes print one ``error:`` line and exit with status 2."""
    try:
        return fn()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        # config/data mistakes surfacing from ppdet (missing annotation file, bad key ...)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(2)
