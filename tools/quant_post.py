"""Post-training quantization (PaddleSlim) of a trained model to an int8 ONNX export.

    python tools/quant_post.py -c configs/quick_start/EConvNeXt_mini_digits.yaml \
        -o Global.pretrained_model=output/EConvNeXt_mini/best_model \
        -o Global.save_inference_dir=inference/EConvNeXt_mini_digits_int8 [--calib_num 256]

Calibrates on --calib_num images of the config's training set (DataLoader.Train, with the
DataLoader.Eval preprocessing) and writes DIR/inference.onnx (QDQ int8, for
deploy/python/predict_cls.py with Global.backend=openvino or onnxruntime), DIR/inference.yml
(Global.quantized: int8) and the float Paddle program of the same weights. Without
Global.pretrained_model the random-initialised model is quantized (latency measurements;
add --synthetic_calib to calibrate on Gaussian images when no data set is at hand).
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
    parser.add_argument("--calib_num", type=int, default=256,
                        help="calibration images from the training set (default 256)")
    parser.add_argument("--algo", default="kl", choices=["kl", "hist", "abs_max"],
                        help="PaddleSlim activation quantizer (default kl, PaddleSlim's)")
    parser.add_argument("--act_dtype", default="uint8", choices=["uint8", "int8"],
                        help="ONNX activation type (uint8: the fast one on x86)")
    parser.add_argument("--synthetic_calib", action="store_true",
                        help="calibrate on Gaussian images (latency only, no data set needed)")
    args = parser.parse_args()

    from ppcls_ext.engine.config import ConfigError, load_config

    try:
        config = load_config(args.config, args.override)
        if (config.get("Slim") or {}).get("quant"):
            raise ConfigError(f"{args.config}: has a Slim (QAT) section; PTQ quantizes a float "
                              "model: drop Slim or export the QAT model with "
                              "tools/export_model.py")
        import paddle

        paddle.set_device("cpu")
        from ppcls_ext.slim.ptq import quantize_post

        save_dir = quantize_post(config, args.calib_num, args.algo, args.act_dtype,
                                 args.synthetic_calib)
        print(f"int8 model written to {save_dir}")
    except ImportError as exc:
        print(f"error: {exc}; install PaddleSlim: pip install -r requirements.txt",
              file=sys.stderr)
        sys.exit(2)
    except (ConfigError, FileNotFoundError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
