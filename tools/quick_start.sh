#!/usr/bin/env bash
# Quick start on the bundled digits dataset: prepare it, train E-ConvNeXt-mini, evaluate the
# best checkpoint, predict a few images. Runs on GPU when Paddle has CUDA, else on CPU.
# Extra arguments are passed to train.py, e.g. `bash tools/quick_start.sh -o Global.epochs=4`.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/quick_start/EConvNeXt_mini_digits.yaml
DEVICE=$(python -c "import paddle; print('gpu' if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0 else 'cpu')" 2>/dev/null)
echo "== device: ${DEVICE}"
start=$(date +%s)
python tools/prepare_digits.py --out dataset/digits
python tools/train.py -c "$CONFIG" -o Global.device="$DEVICE" "$@"
python tools/eval.py -c "$CONFIG" -o Global.device="$DEVICE" \
    -o Global.pretrained_model=output/EConvNeXt_mini/best_model
python tools/infer.py -c "$CONFIG" -o Global.device="$DEVICE" \
    -o Global.pretrained_model=output/EConvNeXt_mini/best_model \
    -o Infer.infer_imgs=dataset/digits/images/val/0003_3.png
echo "== quick start finished in $(( $(date +%s) - start )) s; curves: output/EConvNeXt_mini/curves.png"
