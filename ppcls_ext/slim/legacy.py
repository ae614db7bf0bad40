"""The one place that needs Paddle's legacy program format: PaddleSlim's int8 Paddle program.

PaddleSlim 2.6.0's ``save_quantized_model`` (dygraph QAT/PTQ) traces the wrapped model with
``paddle.jit`` and appends its quantize ops through the legacy ``LayerHelper.append_op``, which
on Paddle 3.3.1 only accepts legacy ``Variable``s: under the default PIR mode it fails ("The
type of '%X' in operator fake_quantize_dequantize_moving_average_abs_max should be one of
[str, bytes, Variable]"). ``FLAGS_enable_pir_api=0`` must be set before ``import paddle``
(``paddle.set_flags`` at run time is too late for ``jit``), hence a subprocess. Under the
legacy format ``F.gelu`` does not trace ("gelu(): argument (position 1) must be Value, but got
Variable"), while the erf formula does, so GELU layers are swapped for ``ErfGELU`` in that
subprocess only; the float model (``ppcls_ext/arch``) is untouched.

The program written here (``inference.pdmodel`` with quantize_linear/dequantize_linear) is
not what deployment uses: paddle2onnx 2.1.0 cannot convert it (``qdq.py``) and Paddle
Inference 3.3.1 runs it in fp32 on CPU (benchmarks/results/quantization.md). It exists to
check the latter: ``python -m ppcls_ext.slim.legacy -c CONFIG [-o ...] --out DIR``.
"""
import os
import subprocess
import sys

import paddle
import paddle.nn as nn

LEGACY_ENV = {"FLAGS_enable_pir_api": "0"}


class ErfGELU(nn.Layer):
    """0.5 x (1 + erf(x / sqrt 2)): ``nn.GELU()``'s exact formula in ops that trace under
    the legacy format (fp32 results within one rounding step of F.gelu)."""

    def forward(self, x):
        return 0.5 * x * (1.0 + paddle.erf(x * 0.7071067811865476))


def use_erf_gelu(layer):
    """Replace every ``nn.GELU`` (exact) sublayer of ``layer`` in place; returns the count."""
    count = 0
    for name, child in layer.named_children():
        if isinstance(child, nn.GELU) and not child._approximate:
            setattr(layer, name, ErfGELU())
            count += 1
        else:
            count += use_erf_gelu(child)
    return count


def save_paddle_int8_program(config_file, overrides, out_dir, timeout=1200):
    """Run this module in a legacy-format subprocess; returns ``out_dir/inference`` prefix."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cmd = [sys.executable, "-m", "ppcls_ext.slim.legacy", "-c", config_file, "--out", out_dir]
    for o in overrides:
        cmd += ["-o", o]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
               **LEGACY_ENV)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"legacy int8 program export failed: {result.stderr[-2000:]}")
    return os.path.join(out_dir, "inference")


def _main():
    import argparse

    from ..engine.config import load_config
    from ..registry import build_model
    from .qat import prepare_qat, wrap_for_qat

    parser = argparse.ArgumentParser()
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-o", "--override", action="append", default=[])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if paddle.framework.use_pir_api():
        sys.exit("run with FLAGS_enable_pir_api=0 (save_paddle_int8_program does)")
    paddle.set_device("cpu")
    config = load_config(args.config, args.override)
    model = build_model(config, "export")
    # before wrapping: with PACT, PaddleSlim saves a copy of the model taken at wrapping time
    use_erf_gelu(model)
    if config.get("Slim"):
        quanter = prepare_qat(config, model, "export")
    else:  # a float model: wrap it, and give the activation quanters some range
        quanter, _ = wrap_for_qat(model)
        model.train()
        with paddle.no_grad():
            for _ in range(2):
                model(paddle.randn([2] + list(config["Global"]["image_shape"])))
    model.eval()
    shape = [None] + list(config["Global"].get("image_shape") or [3, 224, 224])
    quanter.save_quantized_model(model, os.path.join(args.out, "inference"),
                                 input_spec=[paddle.static.InputSpec(shape, "float32", "x")])


if __name__ == "__main__":
    _main()
