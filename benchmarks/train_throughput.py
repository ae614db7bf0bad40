"""Training throughput and peak memory.

    python benchmarks/train_throughput.py [--size 224] [--batch 8] [--iters 4]
    PADDLECLAS_ROOT=/path/to/PaddleClas python benchmarks/train_throughput.py --engines \\
        [--rounds 3] [--iters 30] [--skip 5]

Default mode: E-ConvNeXt mini/tiny/small vs PaddleClas ConvNeXt_tiny. Each model trains
through this project's optimizer, loss and loop (the mini ImageNet config with only the model
swapped) on synthetic in-memory batches, in its own process so that peak RSS is the model's
own; results are reported as ratios to ConvNeXt_tiny measured in the same run.

``--engines``: the quick-start config (E-ConvNeXt-mini on the digits, as ``tools/train.py``
runs it: its loader, workers, logging and metrics) trained by PaddleClas's own ``Engine``
(from the checkout in ``PADDLECLAS_ROOT``), by this engine, and by this engine with
``Global.to_static: True``; each run in a fresh process, the engines interleaved in
``--rounds`` rounds. Images/s are timed from the ``--skip``-th training step to the last of
``--iters`` steps (whole iterations: loading, forward, backward, step, logging), read from a
forward pre-hook on the model; peak memory is the process's peak RSS.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ["EConvNeXt_mini", "EConvNeXt_tiny", "EConvNeXt_small", "ConvNeXt_tiny"]


def measure(name, size, batch, iters):
    sys.path.insert(0, ROOT)
    import paddle

    from ppcls_ext.engine import load_config
    from ppcls_ext.engine.losses import build_loss
    from ppcls_ext.engine.optimizer import build_optimizer
    from ppcls_ext.registry import build_model

    paddle.set_device("cpu")
    cfg = load_config(os.path.join(ROOT, "configs/ImageNet/EConvNeXt/EConvNeXt_mini.yaml"),
                      [f"Arch.name={name}", "Global.device=cpu"])
    if not name.startswith("EConvNeXt"):
        cfg["Arch"].pop("drop_path_rate")
    model = build_model(cfg)
    model.train()
    opt, sched = build_optimizer(cfg["Optimizer"], 300, 1000, model)
    loss_fn = build_loss(cfg["Loss"])
    x = paddle.randn([batch, 3, size, size])
    y = paddle.nn.functional.one_hot(paddle.randint(0, 1000, [batch]), 1000)
    for i in range(iters + 1):
        if i == 1:
            t = time.perf_counter()  # first iteration (allocation, kernel choice) excluded
        loss_fn(model(x), y)["loss"].backward()
        opt.step()
        opt.clear_grad()
        sched.step()
    ips = batch * iters / (time.perf_counter() - t)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(model=name, images_per_s=ips, peak_rss_mb=rss_mb)


ENGINES = {"paddleclas": ("paddleclas", []), "ppcls_ext": ("ppcls_ext", []),
           "ppcls_ext+to_static": ("ppcls_ext", ["Global.to_static=True"])}
QUICK_START = os.path.join(ROOT, "configs/quick_start/EConvNeXt_mini_digits.yaml")


class _Stop(Exception):
    pass


def measure_engine(variant, iters, skip):
    """Train the quick-start config with one engine until ``iters`` steps; time steps."""
    sys.path.insert(0, ROOT)
    kind, extra = ENGINES[variant]
    overrides = ["Global.device=cpu", "Global.eval_during_train=False", "Global.epochs=10",
                 f"Global.output_dir={os.path.join(ROOT, 'output', 'bench_' + variant)}",
                 "Global.print_batch_step=10", *extra]
    if kind == "paddleclas":  # as ppcls_ext.commands hands a config to PaddleClas's engine
        import ppcls_ext

        ppcls_ext.register()  # EConvNeXt_* into the checkout
        from ppcls.engine.engine import Engine
        from ppcls.utils import config as ppcls_config

        config = ppcls_config.get_config(QUICK_START, overrides=overrides, show=False)
        config.profiler_options = None
    else:
        from ppcls_ext.engine import Engine, load_config

        config = load_config(QUICK_START, overrides)
    engine = Engine(config, mode="train")
    stamps, cpu = [], []

    def hook(layer, inputs):
        if layer.training:
            stamps.append(time.perf_counter())
            cpu.append(time.process_time())
            if len(stamps) > iters:
                raise _Stop
    engine.model.register_forward_pre_hook(hook)
    try:
        engine.train()
    except _Stop:
        pass
    batch = int(config["DataLoader"]["Train"]["sampler"]["batch_size"])
    steps = len(stamps) - 1 - skip  # full iterations between the skip-th and last stamp
    ips = batch * steps / (stamps[-1] - stamps[skip])
    # CPU seconds of the training process (all its threads, not the loader workers) per
    # image: far less sensitive than wall time to other jobs on a shared machine
    cpu_ms = 1000 * (cpu[-1] - cpu[skip]) / (batch * steps)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(engine=variant, images_per_s=ips, cpu_ms_per_image=cpu_ms, peak_rss_mb=rss_mb,
                steps=steps)


def machine():
    info = {}
    with open("/proc/cpuinfo") as f:
        text = f.read()
    for line in text.splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            info["flags"] = " ".join(sorted(f for f in flags if f.startswith(("avx512", "amx"))
                                            or f in ("avx2", "fma")))
    info["cores"] = os.cpu_count()
    info["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return info


def run_engines(args):
    import statistics

    if not os.environ.get("PADDLECLAS_ROOT"):
        sys.exit("--engines needs PADDLECLAS_ROOT=/path/to/a PaddleClas source checkout")
    if not os.path.isfile(os.path.join(ROOT, "dataset/digits/train_list.txt")):
        subprocess.run([sys.executable, os.path.join(ROOT, "tools/prepare_digits.py")],
                       check=True, cwd=ROOT)
    print(json.dumps(dict(machine(), when="start")), flush=True)
    rows, variants = [], args.variants.split(",")
    if "paddleclas" not in variants or not set(variants) <= set(ENGINES):
        sys.exit(f"--variants: a comma list of {', '.join(ENGINES)} including paddleclas")
    for rnd in range(args.rounds):
        order = variants if rnd % 2 == 0 else variants[::-1]  # alternate who goes first
        for variant in order:
            out = subprocess.run([sys.executable, __file__, "--one-engine", variant,
                                  "--iters", str(args.iters), "--skip", str(args.skip)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                sys.exit(f"{variant} failed:\n{out.stderr[-3000:]}")
            rows.append(dict(json.loads(out.stdout.strip().splitlines()[-1]), round=rnd + 1))
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps(dict(machine(), when="end")), flush=True)
    ref = {r["round"]: r for r in rows if r["engine"] == "paddleclas"}
    print(f"\nquick-start config, batch 32 at 32 px, steps {args.skip}..{args.iters} timed, "
          f"{args.rounds} interleaved rounds")
    print("| engine | images/s (median) | peak RSS MB (median) | per-round speed ratio to "
          "PaddleClas | median ratio | CPU ms/image (median) | CPU-time speed ratio (median) |")
    print("|---|---:|---:|---|---:|---:|---:|")
    for variant in variants:
        mine = [r for r in rows if r["engine"] == variant]
        ratios = [r["images_per_s"] / ref[r["round"]]["images_per_s"] for r in mine]
        cpu = [ref[r["round"]]["cpu_ms_per_image"] / r["cpu_ms_per_image"] for r in mine]
        print(f"| {variant} | {statistics.median(r['images_per_s'] for r in mine):.1f} | "
              f"{statistics.median(r['peak_rss_mb'] for r in mine):.0f} | "
              f"{', '.join(f'{x:.3f}' for x in ratios)} | {statistics.median(ratios):.3f}x | "
              f"{statistics.median(r['cpu_ms_per_image'] for r in mine):.1f} | "
              f"{statistics.median(cpu):.3f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=4)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--engines", action="store_true",
                        help="PaddleClas's engine vs this one (and to_static) on the quick start")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip", type=int, default=5)
    parser.add_argument("--variants", default=",".join(ENGINES),
                        help="with --engines: which of " + ", ".join(ENGINES))
    parser.add_argument("--one-engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_engine:
        print(json.dumps(measure_engine(args.one_engine, args.iters, args.skip)))
        return
    if args.engines:
        return run_engines(args)
    if args.one:
        print(json.dumps(measure(args.one, args.size, args.batch, args.iters)))
        return
    rows = []
    for name in MODELS:
        out = subprocess.run([sys.executable, __file__, "--one", name, "--size", str(args.size),
                              "--batch", str(args.batch), "--iters", str(args.iters)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    ref = rows[-1]
    print(f"\nCPU training, {args.size}px, batch {args.batch}, {args.iters} timed iterations")
    print("| model | images/s | peak RSS (MB) | speed vs ConvNeXt_tiny | memory vs ConvNeXt_tiny |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['images_per_s']:.2f} | {r['peak_rss_mb']:.0f} | "
              f"{r['images_per_s'] / ref['images_per_s']:.2f}x | "
              f"{r['peak_rss_mb'] / ref['peak_rss_mb']:.2f}x |")


if __name__ == "__main__":
    main()
