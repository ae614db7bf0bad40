#!/usr/bin/env bash
# Detection quick start on the bundled digit scenes: E-ConvNeXt-mini under a PP-YOLOE-S
# neck/head (default) or a YOLOv10-M neck with the NMS-free dual head (--arch yolov10), the
# backbone initialised from the classification quick start's checkpoint (the paper's transfer
# path; `bash tools/quick_start.sh` runs first when that checkpoint is absent).
# Prepares the scenes, trains with an evaluation after every epoch, evaluates COCO mAP, plots
# mAP per epoch, exports a Paddle Inference model and predicts one image with it.
# Runs on GPU when Paddle has CUDA, else on CPU.
#
#   bash tools/det/quick_start.sh [--arch ppyoloe|yolov10] [--preset default|large|dense|mixed]
#                                 [train.py arguments, e.g. -o epoch=4]
#
# --preset picks the generator setting of the scenes (tools/det/prepare_digits_det.py
# --preset): "default" writes dataset/digits_det and trains into output/<config name>; any
# other writes dataset/digits_det_<preset> and trains into output/digits_<preset>/<config name>.
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCH=ppyoloe
PRESET=default
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH="${2:?--arch needs a value: ppyoloe or yolov10}"; shift 2 ;;
        --arch=*) ARCH="${1#--arch=}"; shift ;;
        --preset) PRESET="${2:?--preset needs a value: default, large, dense or mixed}"; shift 2 ;;
        --preset=*) PRESET="${1#--preset=}"; shift ;;
        *) break ;;
    esac
done
case "$ARCH" in
    ppyoloe) NAME=ppyoloe_s_econvnext_mini_digits; TITLE="PP-YOLOE-S + E-ConvNeXt-mini" ;;
    yolov10) NAME=yolov10_m_econvnext_mini_digits; TITLE="YOLOv10-M + E-ConvNeXt-mini" ;;
    *) echo "error: --arch $ARCH is not known; valid: ppyoloe, yolov10" >&2; exit 2 ;;
esac
case "$PRESET" in
    default) DATA=dataset/digits_det; SAVE=output; INFER=inference ;;
    large|dense|mixed) DATA=dataset/digits_det_$PRESET; SAVE=output/digits_$PRESET; INFER=$SAVE/inference ;;
    *) echo "error: --preset $PRESET is not known; valid: default, large, dense, mixed" >&2; exit 2 ;;
esac
CONFIG=configs/detection/quick_start/$NAME.yml
CLS_CKPT=output/EConvNeXt_mini/best_model.pdparams
OUT=$SAVE/$NAME
# one -o with several key=value (PaddleDetection's form: its parser keeps only the last -o)
DATA_ARGS=("TrainDataset.dataset_dir=$DATA" "EvalDataset.dataset_dir=$DATA"
           "TestDataset.dataset_dir=$DATA" "save_dir=$SAVE")
USE_GPU=$(python -c "import paddle; print(str(paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0).lower())" 2>/dev/null)
echo "== $TITLE on the '$PRESET' digit scenes; use_gpu: ${USE_GPU}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
if [ ! -f "$CLS_CKPT" ]; then
    echo "== $CLS_CKPT absent: running the classification quick start first"
    bash tools/quick_start.sh
fi
det_start=$(date +%s)
python tools/det/prepare_digits_det.py --preset "$PRESET" --out "$DATA"
# the training's own CPU time (user + system), the cost on an idle machine of this core count
/usr/bin/time -f "== training process: %e s wall, %U s user, %S s system" \
    python tools/det/train.py -c "$CONFIG" --eval -o use_gpu="$USE_GPU" "${DATA_ARGS[@]}" "$@"
train_end=$(date +%s)
python tools/det/eval.py -c "$CONFIG" -o use_gpu="$USE_GPU" "${DATA_ARGS[@]}" weights="$OUT/model_final"
python -c "from ppcls_ext.det.history import plot_history as p; p('$OUT/history.json', '$OUT/map_curve.png', '$TITLE, $PRESET digit scenes')"
python tools/det/export_model.py -c "$CONFIG" -o use_gpu="$USE_GPU" "${DATA_ARGS[@]}" \
    weights="$OUT/model_final" --output_dir "$INFER"
python deploy/python/predict_det.py --model_dir "$INFER/$NAME" \
    --image_file "$DATA/images/val/00000.png" --output_dir "$OUT/predict"
end=$(date +%s)
echo "== detection quick start finished: total $(( end - start )) s (detection part $(( end - det_start )) s, training $(( train_end - det_start )) s); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== mAP per epoch: $OUT/history.json, $OUT/map_curve.png; drawn image: $OUT/predict/00000.png"
times > "$OUT/cpu_times.txt"  # no subshell: the steps are this shell's children
{ read -r _ _; read -r child_user child_sys; } < "$OUT/cpu_times.txt"
echo "== CPU time of the steps: ${child_user} user, ${child_sys} system (on a shared machine" \
    "this, not wall time, is what they cost)"
