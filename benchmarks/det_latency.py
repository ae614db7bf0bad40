"""CPU latency of the exported detectors: E-ConvNeXt PP-YOLOE / YOLOv10 rows of the paper against
the stock detector of the same row, on every backend of deploy/python/predict_det.py.

    python benchmarks/det_latency.py [--sizes 640,320] [--models ppyoloe_s_mini,...]
        [--repeats 10] [--threads 2] [--out benchmarks/results/det_latency]

Every detector is built from its shipped config with random weights (the paper's class count
of its row), exported with PaddleDetection's export (tools/det/export_model.py's path: decode
and NMS inside PP-YOLOE, the NMS-free top-k inside YOLOv10) at each size, and timed batch 1,
end to end: ``DetPredictor.raw`` on a 640x480 image file (decoding, resizing, normalising, the
model with its post-processing, copying the boxes out). Each (model, size, backend) runs in a
process of its own; the models of one backend and size are timed next to each other so that
their ratio is taken under the same load. The CPU model, its flags and the load average are
recorded: on a shared machine compare ratios within a run.
Writes ``<out>.json`` and ``<out>.md``.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "deploy", "python"))
DET = os.path.join(ROOT, "configs", "detection")

# name -> (label, config under configs/detection, num_classes of the paper's row, reference)
# reference: the stock detector of the same paper row (None for the stock rows themselves)
MODELS = {
    "ppyoloe_s_mini": ("PP-YOLOE-S + E-ConvNeXt-mini", "ppyoloe_s_econvnext_mini_36e_coco.yml",
                       4, "ppyoloe_s"),
    "ppyoloe_s": ("PP-YOLOE-S (CSPResNet-S, stock)", "ppyoloe_crn_s_36e_coco.yml", 4, None),
    "yolov10_m_tiny": ("YOLOv10-M + E-ConvNeXt-tiny", "yolov10_m_econvnext_tiny_36e_coco.yml",
                       8, "yolov10_l"),
    "yolov10_l_tiny": ("YOLOv10-L + E-ConvNeXt-tiny", "yolov10_l_econvnext_tiny_36e_coco.yml",
                       4, "yolov10_l"),
    "yolov10_l": ("YOLOv10-L (stock)", "yolov10_l_36e_coco.yml", 4, None),
    "yolov10_m_mini": ("YOLOv10-M + E-ConvNeXt-mini (quick start)",
                       "quick_start/yolov10_m_econvnext_mini_digits.yml", 10, None),
}
DEFAULT_MODELS = ("ppyoloe_s_mini", "ppyoloe_s", "yolov10_m_tiny", "yolov10_l_tiny",
                  "yolov10_l")
# variant -> (backend, precision, oneDNN)
VARIANTS = {"paddle": ("paddle", "fp32", True), "paddle_no_onednn": ("paddle", "fp32", False),
            "onnxruntime": ("onnxruntime", "fp32", False), "openvino": ("openvino", "fp32", False),
            "openvino_bf16": ("openvino", "bf16", False)}
DEFAULT_VARIANTS = ("paddle", "onnxruntime", "openvino", "openvino_bf16")
LABELS = {"paddle": "Paddle (oneDNN)", "paddle_no_onednn": "Paddle (no oneDNN)",
          "onnxruntime": "ORT", "openvino": "OV fp32", "openvino_bf16": "OV bf16"}


def export(name, size, out_dir):
    """Random-weight export of ``name`` at size x size (dynamic batch); returns its folder."""
    import paddle

    import ppcls_ext.det

    ppcls_ext.det.install()  # patches, EConvNeXt and YOLOv10 registration
    from ppdet.core.workspace import merge_config
    from ppdet.engine import Trainer

    from ppcls_ext.det.workspace import load_fresh_config

    _, config, num_classes, _ = MODELS[name]
    paddle.set_device("cpu")
    cfg = load_fresh_config(os.path.join(DET, config))
    merge_config({"num_classes": num_classes, "use_gpu": False, "pretrain_weights": None,
                  "eval_size": [size, size], "eval_height": size, "eval_width": size,
                  "EConvNeXt": {"pretrained": None},
                  "TestReader": {"inputs_def": {"image_shape": [3, size, size]}}})
    for step in cfg.TestReader["sample_transforms"]:
        if "Resize" in step:
            step["Resize"]["target_size"] = [size, size]
    trainer = Trainer(cfg, mode="test")
    trainer.model.eval()
    trainer.export(out_dir)
    folder = os.path.join(out_dir, os.path.splitext(os.path.basename(config))[0])
    dest = os.path.join(out_dir, f"{name}_{size}")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(folder, dest)
    return dest


def make_predictor(model_dir, variant, threads):
    import predict_det

    backend, precision, onednn = VARIANTS[variant]
    extra = {"precision": precision} if precision != "fp32" else {}
    return predict_det.DetPredictor(model_dir, backend, threshold=0.0, cpu_threads=threads,
                                    enable_mkldnn=onednn, **extra)


def time_one(model_dir, variant, threads, repeats, image, warmup=2):
    """Median and minimum ms of ``DetPredictor.raw`` (decode to boxes), through the
    predictors' one timing loop (``ppcls_infer.timing.measure_latency``)."""
    from ppcls_infer.timing import measure_latency

    predictor = make_predictor(model_dir, variant, threads)
    r = measure_latency(lambda: predictor.raw(image), warmup, repeats)
    return {"ms": r["p50_ms"], "min_ms": r["min_ms"], "precision": predictor.precision}


def time_in_subprocess(model_dir, variant, threads, repeats, image):
    cmd = [sys.executable, os.path.abspath(__file__), "--time-one", model_dir, variant, image,
           "--threads", str(threads), "--repeats", str(repeats)]
    cpu = os.times()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    after = os.times()
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["cpu_s"] = round(after.children_user + after.children_system -
                         cpu.children_user - cpu.children_system, 1)
    out["load1"] = round(os.getloadavg()[0], 2)
    return out


def machine():
    from cpu_info import cpu_flags, cpu_model

    return {"cpu_model": cpu_model(), "cpu_flags": [k for k, v in cpu_flags().items() if v],
            "cores": os.cpu_count()}


def write_reports(result, out):
    lines = []
    m = result["machine"]
    for size in [s for s in result["sizes"] if str(s) in result["rows"]]:
        lines += [f"Batch-1 end-to-end latency at {size}x{size} (median ms of "
                  f"{result['repeats']} runs; decoding + preprocessing + model with its "
                  f"post-processing), `{result['command']}`; CPU: {m['cpu_model']}, "
                  f"{m['cores']} cores ({', '.join(m['cpu_flags'])}), {result['threads']} "
                  f"threads; load average {result['load_before']} before, "
                  f"{result['load_after']} after (shared machine: compare ratios within a "
                  "column).", "",
                  "| detector | " + " | ".join(LABELS[v] for v in result["variants"]) +
                  " | best | vs stock (best backends) |",
                  "|---|" + "---:|" * (len(result["variants"]) + 2)]
        rows = result["rows"][str(size)]
        for name in result["models"]:
            cells, best = [], None
            for v in result["variants"]:
                r = rows.get(name, {}).get(v, {})
                if "ms" in r:
                    cells.append(f"{r['ms']:.0f}")
                    if best is None or r["ms"] < best[1]:
                        best = (v, r["ms"])
                else:
                    cells.append("fails" if "error" in r else "-")
            ref = MODELS[name][3]
            ratio = ""
            if best and ref in rows:
                ref_best = min((r["ms"] for r in rows[ref].values() if "ms" in r), default=None)
                if ref_best:
                    ratio = f"{best[1] / ref_best:.2f}x {MODELS[ref][0].split(' (')[0]}"
            lines.append(f"| {MODELS[name][0]} | " + " | ".join(cells) +
                         f" | {LABELS[best[0]] if best else '-'} | {ratio} |")
        lines.append("")
    errors = [(s, n, v, r["error"]) for s, rows in result["rows"].items()
              for n, vs in rows.items() for v, r in vs.items() if "error" in r]
    if errors:
        lines += ["Failures:", ""] + [f"- {n} at {s}, {LABELS[v]}: {e}" for s, n, v, e in errors]
    with open(out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated, of: " + ", ".join(MODELS))
    parser.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                        help="comma-separated, of: " + ", ".join(VARIANTS))
    parser.add_argument("--sizes", default="640,320")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work_dir", default=None, help="exports (default: a temporary dir)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "det_latency"))
    parser.add_argument("--time-one", nargs=3, metavar=("MODEL_DIR", "VARIANT", "IMAGE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time_one:
        model_dir, variant, image = args.time_one
        print(json.dumps(time_one(model_dir, variant, args.threads, args.repeats, image)))
        return 0
    models = [m for m in args.models.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    bad = [m for m in models if m not in MODELS] + [v for v in variants if v not in VARIANTS]
    if bad:
        parser.error(f"unknown model or variant {bad}; models: {', '.join(MODELS)}; "
                     f"variants: {', '.join(VARIANTS)}")
    from cpu_info import cpu_flags

    if "openvino_bf16" in variants and not (cpu_flags()["bf16"] or cpu_flags()["amx"]):
        variants.remove("openvino_bf16")  # OpenVINO would run it in fp32: nothing to compare
    sizes = [int(s) for s in args.sizes.split(",")]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    result = {"command": "python benchmarks/det_latency.py " + " ".join(
                  argv if argv is not None else sys.argv[1:]),
              "machine": machine(), "threads": args.threads, "repeats": args.repeats,
              "sizes": sizes, "models": models, "variants": variants, "load_before": load,
              "rows": {}}
    work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="det_latency_"))
    os.makedirs(work, exist_ok=True)
    import cv2

    image = os.path.join(work, "image.jpg")
    cv2.imwrite(image, np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8))
    for size in sizes:
        dirs = {}
        for name in models:
            proc = subprocess.run([sys.executable, "-c", (
                "import sys; sys.path.insert(0, %r); sys.argv = ['x']; "
                "import det_latency as d; print(d.export(%r, %d, %r))") % (
                os.path.dirname(os.path.abspath(__file__)), name, size, work)],
                capture_output=True, text=True, cwd=ROOT)
            if proc.returncode:
                print(f"export of {name} at {size} failed: {proc.stderr[-1500:]}", flush=True)
                continue
            dirs[name] = proc.stdout.strip().splitlines()[-1]
        rows = result["rows"].setdefault(str(size), {})
        for variant in variants:
            for name in models:
                if name not in dirs:
                    continue
                r = time_in_subprocess(dirs[name], variant, args.threads, args.repeats, image)
                rows.setdefault(name, {})[variant] = r
                print(f"{size} {name} {variant}: {r}", flush=True)
        result["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        print(write_reports(result, args.out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
