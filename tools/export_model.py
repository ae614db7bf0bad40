"""Export a trained model for Paddle Inference (and optionally ONNX).

    python tools/export_model.py -c configs/quick_start/EConvNeXt_mini_digits.yaml \
        -o Global.pretrained_model=output/EConvNeXt_mini/best_model \
        -o Global.save_inference_dir=inference/EConvNeXt_mini_digits [--onnx]

Same as the console script ``ppcls-export``; see ``ppcls_ext.commands.export_model``.
"""
from ppcls_ext.commands import export_model as main

if __name__ == "__main__":
    main()
