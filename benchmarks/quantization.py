"""int8 vs fp32, in one run: top-1 on the digits quick start and batch-1 latency per backend.

    python benchmarks/quantization.py --fp32 output/EConvNeXt_mini/best_model \
        --qat output/qat/EConvNeXt_mini/best_model [--calib_num 256] [--rounds 7]

Accuracy: the float model of --fp32 exported to ONNX, its PTQ int8 export (tools/quant_post.py's
path, --calib_num training images) and the QAT int8 export of --qat (tools/export_model.py on
configs/slim/...), each evaluated on every digits val image by ONNX Runtime and by OpenVINO
(fp32 inference precision: bf16 would blur the comparison). Latency: E-ConvNeXt-mini at
224x224, random weights, fp32 export vs PTQ int8 export (synthetic calibration), batch 1,
--threads threads, timed in interleaved rounds (fp32 and int8 alternate within each round, so
that the load of a shared machine hits both alike); the per-round int8/fp32 speed-ups are
reported with their median. Writes benchmarks/results/quantization.json.
"""
import argparse
import copy
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "deploy", "python"))
QUICK_START = os.path.join(ROOT, "configs", "quick_start", "EConvNeXt_mini_digits.yaml")
SHAPE = (3, 224, 224)
QAT_CONFIG = os.path.join(ROOT, "configs", "slim", "EConvNeXt_mini_digits_quantization.yaml")


def sessions(onnx_file, threads):
    """{backend: callable(x) -> logits} for ONNX Runtime and OpenVINO (fp32 precision)."""
    import onnxruntime as ort
    import openvino as ov

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.log_severity_level = 3
    session = ort.InferenceSession(onnx_file, so, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    compiled = ov.Core().compile_model(onnx_file, "CPU", {
        "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    return {"onnxruntime": lambda x: session.run(None, {name: x})[0],
            "openvino": lambda x: request.infer({0: x})[0]}


def val_set(config):
    from ppcls_ext.engine.data import build_dataset

    dataset = build_dataset(config["DataLoader"]["Eval"]["dataset"], "DataLoader.Eval.dataset")
    pairs = [dataset[i] for i in range(len(dataset))]
    return np.stack([p[0] for p in pairs]), np.array([int(p[1]) for p in pairs])


def top1(run, images, labels, batch=64):
    pred = np.concatenate([run(images[i:i + batch]).argmax(1)
                           for i in range(0, len(images), batch)])
    return float((pred == labels).mean())


def accuracy(args, work):
    from ppcls_ext.engine.config import load_config
    from ppcls_ext.export import export, to_onnx
    from ppcls_ext.slim.export import export_qat
    from ppcls_ext.slim.ptq import quantize_post

    common = ["Global.infer_add_softmax=False"]
    fp32_cfg = load_config(QUICK_START, common + [f"Global.pretrained_model={args.fp32}",
                                                  f"Global.save_inference_dir={work}/fp32"])
    images, labels = val_set(fp32_cfg)
    dirs = {"fp32": to_onnx(export(copy.deepcopy(fp32_cfg)))}
    ptq_cfg = load_config(QUICK_START, common + [f"Global.pretrained_model={args.fp32}",
                                                 f"Global.save_inference_dir={work}/ptq"])
    t = time.time()
    dirs["ptq"] = os.path.join(quantize_post(ptq_cfg, args.calib_num), "inference.onnx")
    ptq_seconds = time.time() - t
    if args.qat:
        qat_cfg = load_config(QAT_CONFIG, common + [f"Global.pretrained_model={args.qat}",
                                                    f"Global.save_inference_dir={work}/qat"])
        dirs["qat"] = os.path.join(export_qat(qat_cfg), "inference.onnx")
    rows = []
    for model, path in dirs.items():
        for backend, run in sessions(path, args.threads).items():
            rows.append(dict(model=model, backend=backend, top1=top1(run, images, labels)))
            print(f"top-1 {model:4s} {backend:11s} {rows[-1]['top1'] * 100:.2f}", flush=True)
    return dict(val_images=len(labels), calib_num=args.calib_num, ptq_seconds=ptq_seconds,
                rows=rows)


def latency(args, work):
    from ppcls_ext.engine.config import load_config
    from ppcls_ext.export import export, to_onnx
    from ppcls_ext.slim.ptq import quantize_post

    shape = f"Global.image_shape=[3,{args.size},{args.size}]"
    base = ["Arch.class_num=1000", shape, "Global.infer_add_softmax=False"]
    import paddle

    paddle.seed(0)
    fp32 = to_onnx(export(load_config(QUICK_START,
                                      base + [f"Global.save_inference_dir={work}/l32"])))
    paddle.seed(0)
    int8 = os.path.join(quantize_post(load_config(
        QUICK_START, base + [f"Global.save_inference_dir={work}/l8"]), 8, synthetic=True),
        "inference.onnx")
    runs = {"fp32": sessions(fp32, args.threads), "int8": sessions(int8, args.threads)}
    paddle_row = None if args.no_paddle else paddle_inference(args, work, os.path.dirname(fp32))
    x = np.random.RandomState(0).rand(1, 3, args.size, args.size).astype("float32")
    times = {(p, b): [] for p in runs for b in runs[p]}
    for (p, b) in times:
        for _ in range(3):
            runs[p][b](x)
    for _ in range(args.rounds):
        for (p, b), samples in times.items():
            t = time.perf_counter()
            for _ in range(args.repeats):
                runs[p][b](x)
            samples.append((time.perf_counter() - t) / args.repeats * 1000)
    rows = []
    for backend in runs["fp32"]:
        f, i = times[("fp32", backend)], times[("int8", backend)]
        ratios = [a / b for a, b in zip(f, i)]
        rows.append(dict(backend=backend, fp32_ms=float(np.median(f)), int8_ms=float(np.median(i)),
                         speedup_per_round=[round(r, 3) for r in ratios],
                         speedup_median=float(np.median(ratios))))
        print(f"latency {backend:11s} fp32 {rows[-1]['fp32_ms']:.2f} ms  int8 "
              f"{rows[-1]['int8_ms']:.2f} ms  speed-up per round "
              f"{' '.join(f'{r:.2f}' for r in ratios)} (median {rows[-1]['speedup_median']:.2f})",
              flush=True)
    return dict(model="EConvNeXt_mini", size=args.size, batch=1, threads=args.threads,
                rounds=args.rounds, repeats=args.repeats, rows=rows, paddle_inference=paddle_row)


def time_paddle_inference(fp32_dir, int8_prefix, threads, rounds, repeats):
    """(In a subprocess, so that the pass log is this run's) Paddle Inference with oneDNN: the
    fp32 PIR program vs PaddleSlim's int8 program, interleaved; prints one JSON line."""
    from paddle import inference

    def predictor(model, params):
        config = inference.Config(model, params)
        config.disable_gpu()
        config.enable_mkldnn()
        config.set_cpu_math_library_num_threads(threads)
        p = inference.create_predictor(config)
        x = np.random.RandomState(0).rand(*[1] + list(SHAPE)).astype("float32")
        p.get_input_handle(p.get_input_names()[0]).copy_from_cpu(x)
        return p

    runs = {"fp32": predictor(os.path.join(fp32_dir, "inference.json"),
                              os.path.join(fp32_dir, "inference.pdiparams")),
            "int8": predictor(int8_prefix + ".pdmodel", int8_prefix + ".pdiparams")}
    times = {k: [] for k in runs}
    for p in runs.values():
        p.run()
    for _ in range(rounds):
        for k, p in runs.items():
            t = time.perf_counter()
            for _ in range(repeats):
                p.run()
            times[k].append((time.perf_counter() - t) / repeats * 1000)
    print("RESULT " + json.dumps(times), flush=True)


def paddle_inference(args, work, fp32_dir):
    """Does Paddle Inference 3.3.1 run PaddleSlim's int8 program in int8 on CPU?"""
    import re
    import subprocess

    from ppcls_ext.slim.legacy import save_paddle_int8_program

    prefix = save_paddle_int8_program(QUICK_START, [
        "Arch.class_num=1000", f"Global.image_shape=[3,{args.size},{args.size}]",
        "Global.infer_add_softmax=False"], os.path.join(work, "paddle_int8"))
    cmd = [sys.executable, __file__, "--fp32", "-", "--size", str(args.size), "--threads",
           str(args.threads), "--paddle-check", fp32_dir, prefix]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")]
    if not line:
        return dict(error=result.stderr[-1500:])
    times = json.loads(line[0][len("RESULT "):])
    log = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr)
    pir = re.findall(r"Running PIR pass \[(\w+)\]", log)
    legacy = re.findall(r"Running IR pass \[(\w+)\]", log)
    ratios = [a / b for a, b in zip(times["fp32"], times["int8"])]
    row = dict(fp32_ms=float(np.median(times["fp32"])), int8_ms=float(np.median(times["int8"])),
               speedup_per_round=[round(r, 3) for r in ratios],
               pir_quant_passes=[p for p in pir if "quant" in p],
               legacy_quant_passes=[p for p in legacy if "quant" in p])
    print(f"latency paddle (oneDNN) fp32 {row['fp32_ms']:.2f} ms  PaddleSlim int8 program "
          f"{row['int8_ms']:.2f} ms  speed-up per round {' '.join(f'{r:.2f}' for r in ratios)}; "
          f"quant passes: PIR {row['pir_quant_passes']}, legacy IR {row['legacy_quant_passes']}",
          flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fp32", required=True, help="float digits checkpoint (.pdparams prefix)")
    parser.add_argument("--qat", help="QAT digits checkpoint (configs/slim/...)")
    parser.add_argument("--calib_num", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "quantization.json"))
    parser.add_argument("--no-paddle", action="store_true",
                        help="skip the Paddle Inference check (slow: int8 runs as fake quant)")
    parser.add_argument("--paddle-check", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.paddle_check:
        global SHAPE
        SHAPE = (3, args.size, args.size)
        time_paddle_inference(*args.paddle_check, args.threads, rounds=3, repeats=3)
        return

    import onnxruntime
    import openvino
    import paddle
    from cpu_info import cpu_flags, cpu_model

    paddle.set_device("cpu")
    with tempfile.TemporaryDirectory() as work:
        result = dict(cpu=cpu_model(), cpu_flags=cpu_flags(),
                      versions=dict(paddle=paddle.__version__, onnxruntime=onnxruntime.__version__,
                                    openvino=openvino.__version__),
                      accuracy=accuracy(args, work), latency=latency(args, work))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
