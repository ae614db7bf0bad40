"""Post-training quantization (PaddleSlim) of a trained model to an int8 ONNX export.

    python tools/quant_post.py -c configs/quick_start/EConvNeXt_mini_digits.yaml \
        -o Global.pretrained_model=output/EConvNeXt_mini/best_model \
        -o Global.save_inference_dir=inference/EConvNeXt_mini_digits_int8 [--calib_num 256]

Same as the console script ``ppcls-quant-post``; see ``ppcls_ext.commands.quant_post``.
"""
from ppcls_ext.commands import quant_post as main

if __name__ == "__main__":
    main()
