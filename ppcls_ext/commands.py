"""Entry points of the classification tools (console scripts and ``tools/*.py``).

    ppcls-train  -c CONFIG [-o Key.Sub=value ...]   (= python tools/train.py ...)
    ppcls-eval   -c CONFIG [-o ...]                  (= python tools/eval.py ...)
    ppcls-infer  -c CONFIG [-o ...]                  (= python tools/infer.py ...)
    ppcls-export -c CONFIG [-o ...] [--onnx]         (= python tools/export_model.py ...)
    ppcls-quant-post -c CONFIG [-o ...]              (= python tools/quant_post.py ...)

Every tool parses ``-c``/``-o`` with ``ppcls_infer.cli`` (one ``-o`` parser, values as YAML
literals), calls ``ppcls_ext.register()`` and runs under its error policy: a user mistake is
one ``error:`` line (exit status 2), anything else a traceback; ``PPCLS_DEBUG=1`` shows the
traceback of user mistakes too. With ``PADDLECLAS_ROOT`` naming an importable PaddleClas
source checkout, train/eval/infer hand the config to PaddleClas's own ``Engine``.
"""
import os

from ppcls_infer.cli import apply_overrides, console_script, make_parser, run
from ppcls_infer.onnx_export import DEFAULT_OPSET
from ppcls_infer.refused_flags import CLASSIFICATION as _REFUSED
from ppcls_infer.refused_flags import add_refused


def register():
    """``ppcls_ext.register()``, imported when a command runs: importing this module (a tool's
    ``-h``) loads neither Paddle nor PaddleClas, and ``run`` quiets their import noise first."""
    from .registry import register as register_models

    return register_models()


EXPORT_DOC = """Export a trained model for Paddle Inference (and optionally ONNX).

    ppcls-export -c configs/quick_start/EConvNeXt_mini_digits.yaml \\
        -o Global.pretrained_model=output/EConvNeXt_mini/best_model \\
        -o Global.save_inference_dir=inference/EConvNeXt_mini_digits [--onnx]

Global.pretrained_model is a .pdparams or .safetensors file (suffix optional); EMA weights
beside it (.pdema / .ema.safetensors) are preferred. Pickles are read through the project's
allow-list, never by plain unpickling. Writes inference.json, inference.pdiparams and
inference.yml (preprocessing and label names); with --onnx also inference.onnx (paddle2onnx,
opset 13). A config with a Slim section (QAT) exports the QAT checkpoint as int8:
inference.onnx with QDQ nodes (always written) and inference.yml marked
Global.quantized: int8.
"""

QUANT_POST_DOC = """Post-training quantization (PaddleSlim) of a trained model to an int8 ONNX export.

    ppcls-quant-post -c configs/quick_start/EConvNeXt_mini_digits.yaml \\
        -o Global.pretrained_model=output/EConvNeXt_mini/best_model \\
        -o Global.save_inference_dir=inference/EConvNeXt_mini_digits_int8 [--calib_num 256]

Calibrates on --calib_num images of the config's training set (DataLoader.Train, with the
DataLoader.Eval preprocessing) and writes DIR/inference.onnx (QDQ int8, for
deploy/python/predict_cls.py with Global.backend=openvino or onnxruntime), DIR/inference.yml
(Global.quantized: int8) and the float Paddle program of the same weights. Without
Global.pretrained_model the random-initialised model is quantized (latency measurements;
add --synthetic_calib to calibrate on Gaussian images when no data set is at hand).
"""


def _engine(mode, args):
    if os.environ.get("PADDLECLAS_ROOT"):
        return _paddleclas_engine(mode, args)
    from .engine import Engine
    from .engine.config import load_config

    register()
    config = load_config(args.config, args.override)
    prepare_model = None
    if config.get("Slim"):  # QAT: slim wraps the model (the engine does not import slim)
        from .slim.qat import prepare_qat as prepare_model
    engine = Engine(config, mode=mode, prepare_model=prepare_model)
    return getattr(engine, mode)()


def _paddleclas_engine(mode, args):
    from ._ppcls import ppcls_module
    from .engine.config import TOP_LEVEL_KEYS
    from .io import guard_paddle_load

    register()  # EConvNeXt_* into the checkout's ppcls.arch (and the wheel's)
    guard_paddle_load()  # PaddleClas's engine calls paddle.load on checkpoints itself
    from ppcls.engine.engine import Engine

    from ppcls_infer.bounded_yaml import load_file

    ppcls_config = ppcls_module("utils.config")
    config = ppcls_config.AttrDict(load_file(args.config))  # parse_config, aliases bounded
    # as this engine: a known section may be added (TIPC passes -o AMP.use_amp=False to
    # every config), a misspelt one is refused
    apply_overrides(config, args.override,
                    new_section=lambda path: len(path) == 1 and path[0] in TOP_LEVEL_KEYS)
    ppcls_config.create_attr_dict(config)
    config.profiler_options = getattr(args, "profiler_options", None)
    engine = Engine(config, mode=mode)
    return getattr(engine, mode)()


def _parser(description, profiler=False):
    """PaddleClas's ``-c``/``-o`` command line; ``-p/--profiler_options`` is passed to
    PaddleClas's engine (``profiler`` and ``PADDLECLAS_ROOT`` set), refused with its reason
    otherwise."""
    parser = make_parser(description)
    if profiler and os.environ.get("PADDLECLAS_ROOT"):
        parser.add_argument("-p", "--profiler_options", default=None,
                            help="PaddleClas's profiler options (its engine only)")
        return parser
    return add_refused(parser, _REFUSED)


def launch(mode, description=None, argv=None):
    """``tools/{train,eval,infer}.py``: parse ``-c``/``-o``, run ``Engine(config).<mode>()``."""
    args = _parser(description, profiler=True).parse_args(argv)
    return run(_engine, mode, args)


def train(argv=None):
    return launch("train", "Train a model from a PaddleClas YAML config.", argv)


def evaluate(argv=None):
    return launch("eval", "Evaluate a model from a PaddleClas YAML config.", argv)


def infer(argv=None):
    return launch("infer", "Predict images with a model from a PaddleClas YAML config.", argv)


def _export(args):
    import paddle

    from .engine.config import load_config
    from .export import export, to_onnx

    register()
    config = load_config(args.config, args.override)
    paddle.set_device("cpu")  # export is device independent
    if (config.get("Slim") or {}).get("quant"):
        from .slim.export import export_qat

        print(f"int8 model written to {export_qat(config)}")
        return
    # ONNX is written into the export's staging folder: both are swapped in together
    save_dir = export(config, finish=(lambda folder: to_onnx(
        folder, opset_version=args.opset)) if args.onnx else None)
    if args.onnx:
        print(f"ONNX model written to {os.path.join(save_dir, 'inference.onnx')}")


def export_model(argv=None):
    """``tools/export_model.py`` / ``ppcls-export``."""
    parser = _parser(EXPORT_DOC)
    parser.add_argument("--onnx", action="store_true", help="also write inference.onnx")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    return run(_export, parser.parse_args(argv))


def _quant_post(args):
    import paddle

    from .engine.config import ConfigError, load_config

    register()
    config = load_config(args.config, args.override)
    if (config.get("Slim") or {}).get("quant"):
        raise ConfigError(f"{args.config}: has a Slim (QAT) section; PTQ quantizes a float "
                          "model: drop Slim or export the QAT model with tools/export_model.py")
    paddle.set_device("cpu")
    from .slim.ptq import quantize_post

    save_dir = quantize_post(config, args.calib_num, args.algo, args.act_dtype,
                             args.synthetic_calib)
    print(f"int8 model written to {save_dir}")


def quant_post(argv=None):
    """``tools/quant_post.py`` / ``ppcls-quant-post``."""
    parser = _parser(QUANT_POST_DOC)
    parser.add_argument("--calib_num", type=int, default=256,
                        help="calibration images from the training set (default 256)")
    parser.add_argument("--algo", default="kl", choices=["kl", "hist", "abs_max"],
                        help="PaddleSlim activation quantizer (default kl, PaddleSlim's)")
    parser.add_argument("--act_dtype", default="uint8", choices=["uint8", "int8"],
                        help="ONNX activation type (uint8: the fast one on x86)")
    parser.add_argument("--synthetic_calib", action="store_true",
                        help="calibrate on Gaussian images (latency only, no data set needed)")
    return run(_quant_post, parser.parse_args(argv))


__all__ = ["evaluate", "export_model", "infer", "launch", "quant_post",
           "train"]

# --- console scripts (pyproject.toml): exit status 0 on success -----------------------------

train_script = console_script(globals(), "train")
evaluate_script = console_script(globals(), "evaluate")
infer_script = console_script(globals(), "infer")
export_model_script = console_script(globals(), "export_model")
quant_post_script = console_script(globals(), "quant_post")
