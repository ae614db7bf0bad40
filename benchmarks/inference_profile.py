"""Where batch-1 CPU latency goes: kernel time against per-op dispatch, E-ConvNeXt vs ResNet50.

    python benchmarks/inference_profile.py [--models EConvNeXt_mini,ResNet50] [--runs 20]

For each model (exported as in inference_latency.py) and backend, in processes of their own:
- Paddle Inference + oneDNN: wall time per run (median of three processes), then the same predictor under
  ``ONEDNN_VERBOSE=1``, whose exec lines give the time spent inside oneDNN primitives by kind
  and how many primitives one run executes; wall minus kernel time, per primitive, is what
  Paddle spends dispatching each op.
- ONNX Runtime: its own profiler (``enable_profiling``), kernel time per op type (inflated a
  little by the profiling itself, so no dispatch cost is derived for it).
Prints one table per backend plus the kernel-only and wall-clock ratios to the last model.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from inference_latency import ROOT, export_model, time_backend  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "deploy", "python"))


def child(model_dir, backend, runs, mode):
    """Runs in a subprocess; prints one JSON line."""
    from backends import create_backend

    g = dict(backend=backend, cpu_num_threads=2)
    if mode == "wall":
        print(json.dumps(dict(wall_ms=time_backend(create_backend(model_dir, g), 1, runs))))
        return
    if backend == "paddle":  # ONEDNN_VERBOSE is set by the parent: mark the timed window
        predict = create_backend(model_dir, g)
        time_backend(predict, 1, 1)  # warm-up, outside the verbose window
        print("@@start", flush=True)
        time_backend(predict, 1, runs, warmup=0)
        print("@@end", flush=True)
        return
    import onnxruntime as ort
    from ort_layout import create_session

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    session = create_session(os.path.join(model_dir, "inference.onnx"), options,
                             ["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    time_backend(lambda x: session.run(None, {name: x}), 1, runs)
    with open(session.end_profiling()) as f:
        events = json.load(f)
    kinds, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            kinds[e["args"]["op_name"]] += e["dur"] / 1000
            count[e["args"]["op_name"]] += 1
    print(json.dumps(dict(kinds=kinds, count=count)))


def _onednn_kernels(lines, runs):
    window = lines[lines.index("@@start") + 1:lines.index("@@end")]
    kinds, count = collections.Counter(), collections.Counter()
    for line in window:
        fields = line.split(",")
        if line.startswith("onednn_verbose") and len(fields) > 5 and fields[3] == "exec":
            kinds[fields[5]] += float(fields[-1])
            count[fields[5]] += 1
    return kinds, count


def profile(model_dir, backend, runs):
    cmd = [sys.executable, __file__, "--runs", str(runs), "--child", model_dir, backend]
    walls = [json.loads(subprocess.run(cmd + ["wall"], capture_output=True, text=True, check=True)
                        .stdout.strip().splitlines()[-1])["wall_ms"] for _ in range(3)]
    wall = float(np.median(walls))  # three processes: one burst of load does not decide
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run(cmd + ["kernels"], capture_output=True, text=True, check=True,
                         env=env).stdout.splitlines()
    if backend == "paddle":
        kinds, count = _onednn_kernels(out, runs)
    else:
        result = json.loads(out[-1])
        kinds, count = collections.Counter(result["kinds"]), collections.Counter(result["count"])
        runs += 5  # ORT's profiler also saw the five warm-up runs
    kinds = {k: v / runs for k, v in kinds.items()}
    ops = sum(count.values()) / runs
    kernel = sum(kinds.values())
    # ORT's profiler costs more than its dispatch: only Paddle's dispatch cost is derived
    dispatch = 1000 * (wall - kernel) / ops if backend == "paddle" else float("nan")
    return dict(wall_ms=wall, kernel_ms=kernel, ops=ops, dispatch_us_per_op=dispatch,
                top={k: round(v, 3) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:5]})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="EConvNeXt_mini,ResNet50")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], args.child[1], args.runs, args.child[2])
    models = args.models.split(",")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            os.makedirs(os.path.join(tmp, name))
            export_model(name, os.path.join(tmp, name))
            for backend in ("paddle", "onnxruntime"):
                results[(name, backend)] = profile(os.path.join(tmp, name), backend, args.runs)
    ref = models[-1]
    for backend in ("paddle", "onnxruntime"):
        print(f"\n{backend} (batch 1, 224, 2 threads; kernel = time inside "
              f"{'oneDNN primitives' if backend == 'paddle' else 'ORT kernels'})")
        print("| model | wall ms | kernel ms | ops/run | dispatch us/op | wall / "
              f"{ref} | kernel / {ref} | largest kernels (ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|---|")
        base = results[(ref, backend)]
        for name in models:
            r = results[(name, backend)]
            print(f"| {name} | {r['wall_ms']:.1f} | {r['kernel_ms']:.1f} | {r['ops']:.0f} | "
                  f"{r['dispatch_us_per_op']:.0f} | {r['wall_ms'] / base['wall_ms']:.2f} | "
                  f"{r['kernel_ms'] / base['kernel_ms']:.2f} | "
                  f"{', '.join(f'{k} {v}' for k, v in r['top'].items())} |")


if __name__ == "__main__":
    main()
