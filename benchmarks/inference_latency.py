"""CPU inference latency: E-ConvNeXt vs PaddleClas baselines on Paddle Inference, ONNX Runtime
and OpenVINO (fp32, bf16), plus PaddleSlim int8 (PTQ) E-ConvNeXt rows.

    python benchmarks/inference_latency.py [--quick] [--threads 2] [--repeats 15] [--rounds 3]
        [--models EConvNeXt_mini,ResNet50] [--no-int8] [--no-bf16]

Every model is exported the same way (random weights, 224x224, softmax head, dynamic batch)
and timed in this one run, each (model, variant) in a process of its own, in interleaved
rounds: ratios are taken per round, then their median (this shared machine drifts by up to
2x between minutes). Variants: Paddle Inference, ONNX Runtime and OpenVINO in fp32 at batch 1
and 8; OpenVINO bf16 at batch 1 where the CPU has AVX512-BF16 or AMX. Int8 rows: each
E-ConvNeXt quantized by tools/quant_post.py (PaddleSlim PTQ, synthetic calibration, QDQ ONNX)
on ONNX Runtime and OpenVINO at batch 1. The CPU model, its flags (AVX2, AVX512, VNNI, BF16,
AMX) and the load average are recorded, and the fp32 matmul peak (a large GEMM through Paddle
Inference with oneDNN, same thread count) is measured in the same run, so that achieved GMAC/s
can be read against it. Writes benchmarks/results/inference_latency.{json,md,png}.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "deploy", "python"))

# name -> ImageNet top-1: E-ConvNeXt from the paper; the others from PaddleClas's model-zoo
# pages (docs/zh_CN/models/ImageNet1k/*.md, the "Top1" column of PaddleClas's own training)
MODELS = {
    "EConvNeXt_mini": 78.3, "EConvNeXt_tiny": 80.6, "EConvNeXt_small": 81.9,
    "ResNet50": 76.5, "ConvNeXt_tiny": 82.0, "MobileNetV3_large_x1_0": 75.3,
    "PPLCNetV2_base": 77.0, "StarNet_S4": 79.0, "FasterNet_T0": 71.9,
}
QUICK = ("EConvNeXt_mini", "ResNet50")


def matmul_peak_gflops(threads, n=2048, repeats=20):
    """fp32 GEMM throughput (GMAC/s) in the runtime the models use: one n x n x n matmul
    exported and run through Paddle Inference with oneDNN on ``threads`` threads (numpy's
    BLAS or dygraph matmul here reach only about half of what oneDNN does). The fastest of
    ``repeats`` runs: a peak, not an average dragged down by this shared machine's bursts."""
    import paddle
    from backends import create_backend

    class MatMul(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.w = self.create_parameter([n, n])

        def forward(self, x):
            return paddle.matmul(x, self.w)

    with tempfile.TemporaryDirectory() as tmp:
        static = paddle.jit.to_static(
            MatMul(), input_spec=[paddle.static.InputSpec([n, n], "float32", "x")],
            full_graph=True)
        paddle.jit.save(static, os.path.join(tmp, "inference"))
        predict = create_backend(tmp, dict(backend="paddle", cpu_num_threads=threads))
        x = np.random.rand(n, n).astype(np.float32)
        predict(x)
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            predict(x)
            best = min(best, time.perf_counter() - t)
        return n ** 3 / best / 1e9


def export_model(name, out_dir):
    """Random weights, exported through the project's own export path (softmax, dynamic
    batch, 224x224) and converted to ONNX; returns the model's MACs."""
    import paddle

    import ppcls_ext  # noqa: F401  registers E-ConvNeXt
    from ppcls_ext.export import save_inference_model, to_onnx

    model = ppcls_ext.build_model({"Arch": {"name": name, "class_num": 1000},
                                   "Global": {"device": "cpu"}})
    model.eval()
    macs = paddle.flops(model, [1, 3, 224, 224], print_detail=False)
    save_inference_model(model, out_dir, [3, 224, 224])
    to_onnx(out_dir)
    return macs


def time_backend(predict, batch, repeats, warmup=5):
    x = np.random.rand(batch, 3, 224, 224).astype(np.float32)
    for _ in range(warmup):
        predict(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def time_in_subprocess(model_dir, variant, threads, repeats, batches=None):
    """Median latency {batch: ms} of one model in one variant, measured in a fresh process:
    two Paddle predictors in one process do not both get the requested OpenMP threads, and
    ONNX Runtime's spinning pool would slow a Paddle predictor beside it."""
    backend, precision, default_batches = VARIANTS[variant]
    batches = batches or default_batches
    cmd = [sys.executable, __file__, "--time-one", model_dir, backend, precision, "--threads",
           str(threads), "--repeats", str(repeats), "--batches", ",".join(map(str, batches))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    times = json.loads(out.strip().splitlines()[-1])
    return {int(bs): ms for bs, ms in times.items()}


def time_one(model_dir, backend, precision, threads, repeats, batches):
    from backends import create_backend

    predictor = create_backend(model_dir, dict(backend=backend, precision=precision,
                                               cpu_num_threads=threads, enable_mkldnn=True,
                                               ir_optim=True))
    print(json.dumps({bs: time_backend(predictor, bs, repeats if bs == 1 else
                                       max(3, repeats // 3)) for bs in batches}))


# variant -> (backend, precision, batch sizes); int8 models are timed in INT8_VARIANTS
VARIANTS = {"paddle": ("paddle", "fp32", (1, 8)), "onnxruntime": ("onnxruntime", "fp32", (1, 8)),
            "openvino": ("openvino", "fp32", (1, 8)), "openvino_bf16": ("openvino", "bf16", (1,))}
FP32 = ("paddle", "onnxruntime", "openvino")
INT8_VARIANTS = ("onnxruntime", "openvino", "openvino_bf16")
LABELS = {"paddle": "Paddle", "onnxruntime": "ORT", "openvino": "OV", "openvino_bf16": "OV bf16"}


def quantize_model(name, out_dir, calib_num=8):
    """PaddleSlim PTQ of the random-initialised model through tools/quant_post.py (synthetic
    calibration images, QDQ ONNX); returns None on success, else the error line."""
    cmd = [sys.executable, os.path.join(ROOT, "tools", "quant_post.py"), "-c",
           os.path.join(ROOT, "configs", "quick_start", "EConvNeXt_mini_digits.yaml"),
           "-o", f"Arch.name={name}", "-o", "Arch.class_num=1000",
           "-o", "Global.image_shape=[3,224,224]", "-o", f"Global.save_inference_dir={out_dir}",
           "-o", "Infer.PostProcess.class_id_map_file=ppcls/utils/imagenet1k_label_list.txt",
           "--calib_num", str(calib_num), "--synthetic_calib"]
    if not os.path.isfile(cmd[1]):
        return "tools/quant_post.py does not exist"
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if result.returncode or not os.path.isfile(os.path.join(out_dir, "inference.onnx")):
        return (result.stderr.strip().splitlines() or ["no output"])[-1]
    return None


def _median_ratio(samples, num, den):
    """Median over rounds of num/den, each the best of its variants in that round."""
    best = [min(v) for v in zip(*(samples[k] for k in num))]
    ref = [min(v) for v in zip(*(samples[k] for k in den))]
    ratios = np.array(best) / np.array(ref)
    return float(np.median(ratios)), ratios.round(3).tolist()


def run(models, threads, repeats, rounds, variants, int8_models):
    """Export every model (and PTQ int8 of ``int8_models``), then time them in ``rounds``
    interleaved rounds, each visiting every (model, variant) once. A latency is its median
    over the rounds; ratios (to ResNet50, int8 to fp32) are medians of per-round ratios."""
    import paddle

    paddle.set_device("cpu")
    rows, samples, jobs = {}, {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            os.makedirs(os.path.join(tmp, name))
            rows[name] = dict(model=name, gmacs=export_model(name, os.path.join(tmp, name)) / 1e9,
                              top1=MODELS[name], precision="fp32")
            jobs += [(name, v) for v in variants]
        for name in int8_models:
            error = quantize_model(name, os.path.join(tmp, name + "_int8"))
            if error:
                print(f"int8 {name}: not measured: {error}", flush=True)
                rows[name]["int8_error"] = error
                continue
            rows[name + "_int8"] = dict(model=name + "_int8", gmacs=rows[name]["gmacs"],
                                        top1=None, precision="int8 (PTQ, QDQ)")
            jobs += [(name + "_int8", v) for v in INT8_VARIANTS if v in variants]
        for r in range(rounds):
            for name, variant in jobs:
                batches = (1,) if name.endswith("_int8") else None  # int8 rows: batch 1
                for bs, ms in time_in_subprocess(os.path.join(tmp, name), variant, threads,
                                                 repeats, batches).items():
                    samples.setdefault((name, variant, bs), []).append(ms)
            print(f"round {r + 1}/{rounds} timed", flush=True)
    for name, row in rows.items():
        for (model, variant, bs), times in samples.items():
            if model == name:
                row[f"{variant}_b{bs}_ms"] = float(np.median(times))
        mine = [v for v in (FP32 if row["precision"] == "fp32" else INT8_VARIANTS)
                if (name, v, 1) in samples and VARIANTS[v][1] == "fp32"]
        backend = min(mine, key=lambda v: row[f"{v}_b1_ms"])
        row["best_fp32_backend"], row["best_b1_ms"] = backend, row[f"{backend}_b1_ms"]
        b8 = [row[f"{v}_b8_ms"] for v in FP32 if f"{v}_b8_ms" in row]
        if b8 and row["precision"] == "fp32":
            row["gmac_per_s_b8"] = row["gmacs"] * 8 / (min(b8) / 1000)
        if "ResNet50" in rows and row["precision"] == "fp32":
            fp32 = [v for v in FP32 if (name, v, 1) in samples]
            row["b1_vs_resnet50"], row["b1_vs_resnet50_per_round"] = _median_ratio(
                samples, [(name, v, 1) for v in fp32], [("ResNet50", v, 1) for v in fp32])
            if ("ResNet50", "openvino_bf16", 1) in samples:
                row["bf16_b1_vs_resnet50_bf16"] = _median_ratio(
                    samples, [(name, "openvino_bf16", 1)],
                    [("ResNet50", "openvino_bf16", 1)])[0]
        if row["precision"] != "fp32":
            fp32_name = name[:-len("_int8")]
            row["speedup_vs_fp32"] = {v: _median_ratio(samples, [(fp32_name, v, 1)],
                                                       [(name, v, 1)])[0]
                                      for v in INT8_VARIANTS if (name, v, 1) in samples}
        print(json.dumps(row), flush=True)
    return list(rows.values())


def _ms(row, key):
    return f"{row[key]:.1f}" if key in row else "-"


def write_reports(rows, peak, threads, out_dir, machine):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "inference_latency.json"), "w") as f:
        json.dump(dict(threads=threads, matmul_peak_gmac_s=peak, machine=machine, rows=rows),
                  f, indent=1)
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    int8 = [r for r in rows if r["precision"] != "fp32"]
    variants = [v for v in VARIANTS if any(f"{v}_b1_ms" in r for r in rows)]
    rounds = len(fp32[0].get("b1_vs_resnet50_per_round", [])) or "-"
    flags = ", ".join(k for k, v in machine["cpu_flags"].items() if v)
    lines = [f"CPU {machine['cpu_model']} ({flags}), {threads} threads, 224x224, median "
             f"latency in ms over {rounds} interleaved rounds; load average "
             f"{machine['load_before']} before, {machine['load_after']} after. best fp32 b1 / "
             "ResNet50: median of the per-round ratios, each model on its fastest fp32 backend "
             "in that round; OV = OpenVINO; fp32 matmul peak "
             f"{peak:.1f} GMAC/s measured in the same run.", ""]
    cols = [f"{LABELS[v]} b{bs}" for v in variants for bs in VARIANTS[v][2]]
    lines += ["| model | GMACs | top-1 | " + " | ".join(cols) + " | best fp32 b1 / ResNet50 | "
              "OV bf16 / ResNet50 bf16 | GMAC/s (b8) | % of peak |",
              "|---|" + "---:|" * (len(cols) + 6)]
    for r in fp32:
        cells = [_ms(r, f"{v}_b{bs}_ms") for v in variants for bs in VARIANTS[v][2]]
        ratio = f"{r['b1_vs_resnet50']:.2f}" if "b1_vs_resnet50" in r else "-"
        bf16 = (f"{r['bf16_b1_vs_resnet50_bf16']:.2f}" if "bf16_b1_vs_resnet50_bf16" in r
                else "-")
        gmac = r.get("gmac_per_s_b8")
        lines.append(f"| {r['model']} | {r['gmacs']:.2f} | {r['top1']} | " + " | ".join(cells)
                     + f" | {ratio} | {bf16} | " + (f"{gmac:.1f} | {100 * gmac / peak:.0f}% |"
                                                    if gmac else "- | - |"))
    if int8:
        used = [v for v in INT8_VARIANTS if any(f"{v}_b1_ms" in r for r in int8)]
        lines += ["", "Int8 (PaddleSlim PTQ via tools/quant_post.py, QDQ ONNX, batch 1, ms; "
                  "speed-up = fp32 / int8 on the same backend and float precision, median of "
                  "per-round ratios):", "",
                  "| model | " + " | ".join(f"{LABELS[v]} int8 | speed-up" for v in used) + " |",
                  "|---|" + "---:|---:|" * len(used)]
        for r in int8:
            cells = [f"{_ms(r, f'{v}_b1_ms')} | {r['speedup_vs_fp32'].get(v, float('nan')):.2f}x"
                     for v in used]
            lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    errors = [f"{r['model']}: {r['int8_error']}" for r in rows if "int8_error" in r]
    if errors:
        lines += ["", "Int8 not measured: " + "; ".join(errors)]
    with open(os.path.join(out_dir, "inference_latency.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    _plot(rows, threads, machine, os.path.join(out_dir, "inference_latency.png"))


def _plot(rows, threads, machine, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    by_name = {r["model"]: r for r in rows}
    for r in rows:
        if r["precision"] != "fp32":
            continue
        mine = r["model"].startswith("EConvNeXt")
        ax.scatter(r["best_b1_ms"], r["top1"], c="tab:red" if mine else "tab:blue", s=40,
                   label="fp32, fastest backend" if r["model"] == "ResNet50" else None)
        ax.annotate(r["model"], (r["best_b1_ms"], r["top1"]), fontsize=8,
                    xytext=(4, 3), textcoords="offset points")
        others = [("openvino_bf16_b1_ms", r, "^", "OpenVINO bf16"),
                  ("openvino_b1_ms", by_name.get(r["model"] + "_int8", {}), "s",
                   "int8 PTQ, OpenVINO")]
        for key, src, marker, label in others:
            if key in src and (mine or key.startswith("openvino_bf16")):
                ax.scatter(src[key], r["top1"], marker=marker, facecolors="none",
                           edgecolors="tab:red" if mine else "tab:blue", s=40,
                           label=label if r["model"] in ("ResNet50", "EConvNeXt_mini") and
                           (label.startswith("int8") == mine) else None)
                ax.plot([r["best_b1_ms"], src[key]], [r["top1"]] * 2, c="0.7", lw=0.8,
                        zorder=0)
    ax.set_xlabel(f"batch-1 latency (ms, {threads} threads, {machine['cpu_model']})")
    ax.set_ylabel("ImageNet top-1 (%, published)")
    ax.set_title("bf16 / int8 points drawn at the fp32 top-1 (their accuracy change: "
                 "benchmarks/results/quantization.md)", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def machine_info(load_before):
    from cpu_info import cpu_flags, cpu_model

    return dict(cpu_model=cpu_model(), cpu_flags=cpu_flags(), cpu_count=os.cpu_count(),
                load_before=load_before, load_after=_load())


def _load():
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--models", help="comma-separated subset of: " + ", ".join(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15, help="timed batch-1 runs per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--no-int8", action="store_true", help="skip the PTQ int8 rows")
    parser.add_argument("--no-bf16", action="store_true", help="skip the OpenVINO bf16 column")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--time-one", nargs=3, metavar=("MODEL_DIR", "BACKEND", "PRECISION"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--batches", default="1,8", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_one:
        return time_one(*args.time_one, args.threads, args.repeats,
                        [int(b) for b in args.batches.split(",")])
    from cpu_info import cpu_flags

    load_before = _load()
    models = (args.models.split(",") if args.models else QUICK if args.quick else list(MODELS))
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; valid: {', '.join(MODELS)}")
    variants = [v for v in VARIANTS if v != "openvino_bf16"
                or not (args.no_bf16 or not (cpu_flags()["bf16"] or cpu_flags()["amx"]))]
    int8_models = [] if args.no_int8 else [m for m in models if m.startswith("EConvNeXt")]
    peak = matmul_peak_gflops(args.threads)
    print(f"fp32 matmul peak: {peak:.1f} GMAC/s with {args.threads} threads", flush=True)
    rows = run(models, args.threads, args.repeats, args.rounds, variants, int8_models)
    write_reports(rows, peak, args.threads, args.out, machine_info(load_before))


if __name__ == "__main__":
    main()
