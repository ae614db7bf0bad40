#!/usr/bin/env bash
# Detection quick start on the bundled digit scenes: PP-YOLOE-S neck/head + E-ConvNeXt-mini,
# the backbone initialised from the classification quick start's checkpoint (the paper's
# transfer path; `bash tools/quick_start.sh` runs first when that checkpoint is absent).
# Prepares dataset/digits_det, trains with an evaluation after every epoch, evaluates COCO
# mAP, plots mAP per epoch, exports a Paddle Inference model and predicts one image with it.
# Runs on GPU when Paddle has CUDA, else on CPU. Extra arguments go to tools/det/train.py,
# e.g. `bash tools/det/quick_start.sh -o epoch=4`.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=configs/detection/quick_start/ppyoloe_s_econvnext_mini_digits.yml
NAME=ppyoloe_s_econvnext_mini_digits
CLS_CKPT=output/EConvNeXt_mini/best_model.pdparams
OUT=output/$NAME
USE_GPU=$(python -c "import paddle; print(str(paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0).lower())" 2>/dev/null)
echo "== use_gpu: ${USE_GPU}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
if [ ! -f "$CLS_CKPT" ]; then
    echo "== $CLS_CKPT absent: running the classification quick start first"
    bash tools/quick_start.sh
fi
det_start=$(date +%s)
python tools/det/prepare_digits_det.py --out dataset/digits_det
python tools/det/train.py -c "$CONFIG" --eval -o use_gpu="$USE_GPU" "$@"
train_end=$(date +%s)
python tools/det/eval.py -c "$CONFIG" -o use_gpu="$USE_GPU" -o weights="$OUT/model_final"
python -c "from ppcls_ext.det.history import plot_history as p; p('$OUT/history.json', '$OUT/map_curve.png', 'PP-YOLOE-S + E-ConvNeXt-mini, digit scenes')"
python tools/det/export_model.py -c "$CONFIG" -o use_gpu="$USE_GPU" -o weights="$OUT/model_final" \
    --output_dir inference
python deploy/python/predict_det.py --model_dir "inference/$NAME" \
    --image_file dataset/digits_det/images/val/00000.png --output_dir "$OUT/predict"
end=$(date +%s)
echo "== detection quick start finished: total $(( end - start )) s (detection part $(( end - det_start )) s, training $(( train_end - det_start )) s); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== mAP per epoch: $OUT/history.json, $OUT/map_curve.png; drawn image: $OUT/predict/00000.png"
echo "== CPU time of the steps (user, system; on a shared machine this, not wall time, is what they cost):"
times
