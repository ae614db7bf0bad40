"""Export a trained model for Paddle Inference (and optionally ONNX).

    python tools/export_model.py -c configs/quick_start/EConvNeXt_mini_digits.yaml \
        -o Global.pretrained_model=output/EConvNeXt_mini/best_model \
        -o Global.save_inference_dir=inference/EConvNeXt_mini_digits [--onnx]

Global.pretrained_model is a .pdparams or .safetensors file (suffix optional); EMA weights
beside it (.pdema / .ema.safetensors) are preferred. Pickles are read through the project's
allow-list, never by plain unpickling. Writes inference.json, inference.pdiparams and
inference.yml (preprocessing and label names); with --onnx also inference.onnx (paddle2onnx,
opset 13). A config with a Slim section (QAT) exports the QAT checkpoint as int8:
inference.onnx with QDQ nodes (always written) and inference.yml marked
Global.quantized: int8 (ppcls_ext/slim/export.py).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("-o", "--override", action="append", default=[])
    parser.add_argument("--onnx", action="store_true", help="also write inference.onnx")
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args()

    from ppcls_ext.engine.config import ConfigError, load_config
    from ppcls_ext.export import export, to_onnx
    from ppcls_ext.io import SafetensorsMissingError

    try:
        config = load_config(args.config, args.override)
        import paddle

        paddle.set_device("cpu")  # export is device independent
        if (config.get("Slim") or {}).get("quant"):
            from ppcls_ext.slim.export import export_qat

            print(f"int8 model written to {export_qat(config)}")
            return
        save_dir = export(config)
        if args.onnx:
            print(f"ONNX model written to {to_onnx(save_dir, opset_version=args.opset)}")
    except (ConfigError, FileNotFoundError, ValueError, TypeError,
            SafetensorsMissingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
