"""Training throughput and peak memory: E-ConvNeXt mini/tiny/small vs PaddleClas ConvNeXt_tiny.

    python benchmarks/train_throughput.py [--size 224] [--batch 8] [--iters 4]

Each model trains through this project's engine (its optimizer, loss and loop: the mini
ImageNet config with only the model swapped) on synthetic in-memory batches, in its own
process so that peak RSS is the model's own; results are reported as ratios to
ConvNeXt_tiny measured in the same run.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=4)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
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
