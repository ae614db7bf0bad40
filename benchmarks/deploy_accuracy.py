"""Top-1 of one exported model on a labelled image list, per deploy backend and precision.

    python benchmarks/deploy_accuracy.py --model_dir inference/EConvNeXt_mini_digits \
        --list dataset/digits/val_list.txt [--int8_dir inference/EConvNeXt_mini_digits_int8]

Runs deploy/python/predict_cls.py's predictor (the same preprocessing from inference.yml) with
Paddle Inference fp32/bf16, ONNX Runtime fp32 and OpenVINO fp32/bf16 on ``--model_dir``, and
ONNX Runtime / OpenVINO (fp32 and bf16 float parts) on the int8 export ``--int8_dir``; prints
top-1 accuracy against the list's labels and how many top-1 predictions differ from Paddle
Inference fp32. Lines of ``--list``: ``<image path relative to the list's folder> <label>``.
"""
import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "deploy", "python"))
sys.path.insert(0, ROOT)

from predict_cls import ClsPredictor  # noqa: E402

RUNS = [("paddle", "fp32"), ("paddle", "bf16"), ("onnxruntime", "fp32"), ("openvino", "fp32"),
        ("openvino", "bf16")]
INT8_RUNS = [("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")]


def read_list(path):
    base, paths, labels = os.path.dirname(path), [], []
    with open(path) as f:
        for line in f:
            if line.strip():
                name, label = line.split()[:2]
                paths.append(os.path.join(base, name))
                labels.append(int(label))
    return paths, np.array(labels)


def predict(model_dir, backend, precision, batch):
    predictor = ClsPredictor({"Global": dict(inference_model_dir=model_dir, backend=backend,
                                             precision=precision, cpu_num_threads=2),
                              "PostProcess": {"Topk": {"topk": 1}}})
    out = np.concatenate([predictor.predict_batch(batch[i:i + 64])
                          for i in range(0, len(batch), 64)])
    return out.argmax(1), predictor.backend.precision


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--int8_dir")
    parser.add_argument("--list", required=True)
    args = parser.parse_args()
    paths, labels = read_list(args.list)
    loader = ClsPredictor({"Global": dict(inference_model_dir=args.model_dir,
                                          backend="onnxruntime")})
    batch = np.stack([loader.preprocess(p) for p in paths]).astype(np.float32)
    runs = [(args.model_dir, b, p) for b, p in RUNS]
    runs += [(args.int8_dir, b, p) for b, p in INT8_RUNS] if args.int8_dir else []
    reference, rows = None, []
    for model_dir, backend, precision in runs:
        top1, ran = predict(model_dir, backend, precision, batch)
        reference = top1 if reference is None else reference
        rows.append(dict(model=os.path.basename(os.path.normpath(model_dir)), backend=backend,
                         precision=ran, top1=float((top1 == labels).mean()),
                         changed_vs_paddle_fp32=int((top1 != reference).sum()),
                         images=len(labels)))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| model | backend | precision that ran | top-1 | top-1 changed vs Paddle fp32 |")
    print("|---|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['backend']} | {r['precision']} | {100 * r['top1']:.2f}% | "
              f"{r['changed_vs_paddle_fp32']} of {r['images']} |")


if __name__ == "__main__":
    main()
