"""CPU inference latency: E-ConvNeXt vs PaddleClas baselines, Paddle Inference and ONNX Runtime.

    python benchmarks/inference_latency.py [--quick] [--threads 2] [--repeats 15] [--rounds 5]

Every model is exported the same way (random weights, 224x224, softmax head, dynamic batch)
and timed in this one run at batch 1 and 8 on both backends, each (model, backend) in a
process of its own, in interleaved rounds: ratios to ResNet50 are taken per round, then
their median (this shared machine drifts by up to 2x between minutes). The fp32 matmul
peak (a large GEMM through Paddle Inference with oneDNN, same thread count) is measured in
the same run, so that achieved GMAC/s can be read against it. Writes benchmarks/results/inference_latency.{json,md,png}.
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


def time_in_subprocess(model_dir, backend, threads, repeats, batches):
    """Median latency {batch: ms} of one model on one backend, measured in a fresh process:
    two Paddle predictors in one process do not both get the requested OpenMP threads, and
    ONNX Runtime's spinning pool would slow a Paddle predictor beside it."""
    cmd = [sys.executable, __file__, "--time-one", model_dir, backend, "--threads",
           str(threads), "--repeats", str(repeats), "--batches", ",".join(map(str, batches))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    times = json.loads(out.strip().splitlines()[-1])
    return {int(bs): ms for bs, ms in times.items()}


def time_one(model_dir, backend, threads, repeats, batches):
    from backends import create_backend

    predictor = create_backend(model_dir, dict(backend=backend, cpu_num_threads=threads,
                                               enable_mkldnn=True, ir_optim=True))
    print(json.dumps({bs: time_backend(predictor, bs, repeats if bs == 1 else
                                       max(3, repeats // 3)) for bs in batches}))


def run(models, threads, repeats, rounds, batches=(1, 8)):
    """Export every model, then time them in ``rounds`` interleaved rounds, each visiting
    every (model, backend) once. A model's latency is its median over the rounds; its ratio to
    ResNet50 is the median of the per-round ratios on the model's faster backend, so that
    drift of this shared machine between rounds cancels out of the comparison."""
    import paddle

    paddle.set_device("cpu")
    rows, samples = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            os.makedirs(os.path.join(tmp, name))
            rows[name] = dict(model=name, gmacs=export_model(name, os.path.join(tmp, name)) / 1e9,
                              top1=MODELS[name])
        for r in range(rounds):
            for name in models:
                for backend in ("paddle", "onnxruntime"):
                    times = time_in_subprocess(os.path.join(tmp, name), backend, threads,
                                               repeats, batches)
                    for bs, ms in times.items():
                        samples.setdefault((name, backend, bs), []).append(ms)
            print(f"round {r + 1}/{rounds} timed", flush=True)
    for name, row in rows.items():
        for backend in ("paddle", "onnxruntime"):
            for bs in batches:
                row[f"{backend}_b{bs}_ms"] = float(np.median(samples[(name, backend, bs)]))
        backend = min(("paddle", "onnxruntime"), key=lambda b: row[f"{b}_b1_ms"])
        row["best_backend"] = backend
        row["best_b1_ms"] = row[f"{backend}_b1_ms"]
        row["gmac_per_s_b8"] = row["gmacs"] * 8 / (min(row["paddle_b8_ms"],
                                                       row["onnxruntime_b8_ms"]) / 1000)
        if "ResNet50" in rows:
            ratios = (np.array(samples[(name, backend, 1)])
                      / np.array(samples[("ResNet50", backend, 1)]))
            row["b1_vs_resnet50"] = float(np.median(ratios))
            row["b1_vs_resnet50_per_round"] = ratios.round(3).tolist()
        print(json.dumps(row), flush=True)
    return list(rows.values())


def write_reports(rows, peak, threads, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    ref = next((r for r in rows if r["model"] == "ResNet50"), None)
    with open(os.path.join(out_dir, "inference_latency.json"), "w") as f:
        json.dump(dict(threads=threads, matmul_peak_gmac_s=peak, rows=rows), f, indent=1)
    rounds = len(rows[0].get("b1_vs_resnet50_per_round", [])) or "-"
    lines = [f"CPU, {threads} threads, 224x224, median latency in ms over {rounds} interleaved "
             "rounds; best b1 / ResNet50: median of the per-round ratios on the model's faster "
             f"backend; fp32 matmul peak {peak:.1f} GMAC/s measured in the same run.", "",
             "| model | GMACs | top-1 | Paddle b1 | ORT b1 | Paddle b8 | ORT b8 | best b1 / "
             "ResNet50 | GMAC/s (b8) | % of peak |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = f"{r['b1_vs_resnet50']:.2f}" if ref else "-"
        lines.append(f"| {r['model']} | {r['gmacs']:.2f} | {r['top1']} | {r['paddle_b1_ms']:.1f} | "
                     f"{r['onnxruntime_b1_ms']:.1f} | {r['paddle_b8_ms']:.1f} | "
                     f"{r['onnxruntime_b8_ms']:.1f} | {ratio} | {r['gmac_per_s_b8']:.1f} | "
                     f"{100 * r['gmac_per_s_b8'] / peak:.0f}% |")
    with open(os.path.join(out_dir, "inference_latency.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        mine = r["model"].startswith("EConvNeXt")
        ax.scatter(r["best_b1_ms"], r["top1"], c="tab:red" if mine else "tab:blue", s=40)
        ax.annotate(r["model"], (r["best_b1_ms"], r["top1"]), fontsize=8,
                    xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel(f"batch-1 latency, best backend (ms, CPU {threads} threads)")
    ax.set_ylabel("ImageNet top-1 (%, published)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "inference_latency.png"), dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15, help="timed batch-1 runs per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--time-one", nargs=2, metavar=("MODEL_DIR", "BACKEND"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--batches", default="1,8", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_one:
        return time_one(*args.time_one, args.threads, args.repeats,
                        [int(b) for b in args.batches.split(",")])
    peak = matmul_peak_gflops(args.threads)
    print(f"fp32 matmul peak: {peak:.1f} GMAC/s with {args.threads} threads", flush=True)
    rows = run(QUICK if args.quick else list(MODELS), args.threads,
               args.repeats, 3 if args.quick else args.rounds)
    write_reports(rows, peak, args.threads, args.out)


if __name__ == "__main__":
    main()
