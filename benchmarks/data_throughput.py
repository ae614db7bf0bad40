"""Loader throughput of the ImageNet pipelines at 224 px, images/s, on this machine.

    python benchmarks/data_throughput.py [--images 1024] [--batch 32] [--workers 0 2]
                                         [--repeats 2]

Synthetic JPEGs of ImageNet-like size and weight (500x375, quality 90, ~100 KB: smooth
content plus fine detail, not pure noise) go through ``DataLoader.Train`` of
configs/ImageNet/EConvNeXt/EConvNeXt_mini.yaml (random resized crop, flip, RandAugment,
normalise, random erasing, then Mixup/CutMix per batch) and through its ``DataLoader.Eval``
(resize 256, center crop 224, normalise). One untimed epoch warms up worker start and the page
cache; the next epoch is timed. The settings are measured in turn ``--repeats`` times and the
best run is kept, so that a burst of other load on the machine hits all settings alike. Then
a per-op breakdown (one process, ms per image). Compare the figures with the model's training
speed to see whether a run is input-bound.
"""
import argparse
import io
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
CONFIG = os.path.join(ROOT, "configs/ImageNet/EConvNeXt/EConvNeXt_mini.yaml")


def synthetic_photo(rng, size=(500, 375)):
    """Smooth colour blobs plus +-20 grain: compresses like a photo, not like noise."""
    w, h = size
    blobs = rng.randint(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(blobs).resize((w, h), Image.BICUBIC), dtype=np.int16)
    return np.clip(base + rng.randint(-20, 21, base.shape), 0, 255).astype(np.uint8)


def make_images(root, n):
    rng = np.random.RandomState(0)
    os.makedirs(os.path.join(root, "img"))
    lines, sizes = [], []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(synthetic_photo(rng)).save(buf, format="JPEG", quality=90)
        with open(os.path.join(root, "img", f"{i}.jpg"), "wb") as f:
            f.write(buf.getvalue())
        sizes.append(len(buf.getvalue()))
        lines.append(f"img/{i}.jpg {i % 1000}")
    with open(os.path.join(root, "list.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return float(np.mean(sizes))


def loader_throughput(build_dataloader, load_config, root, mode, batch, workers):
    cfg = load_config(CONFIG, [f"DataLoader.{mode}.dataset.image_root={root}",
                               f"DataLoader.{mode}.dataset.cls_label_path={root}/list.txt",
                               f"DataLoader.{mode}.sampler.batch_size={batch}",
                               f"DataLoader.{mode}.loader.num_workers={workers}"])
    cfg["DataLoader"]["class_num"] = 1000  # what the engine hands over from Arch.class_num
    loader = build_dataloader(cfg["DataLoader"], mode, seed=0)
    for _ in loader:  # warm-up epoch
        pass
    start, n = time.perf_counter(), 0
    for images, labels in loader:
        n += images.shape[0]
    shapes = f"images {images.shape} {images.dtype}, labels {labels.shape} {labels.dtype}"
    return n / (time.perf_counter() - start), shapes


def per_op_breakdown(create_operators, load_config, path, repeats=50):
    cfg = load_config(CONFIG)["DataLoader"]["Train"]["dataset"]["transform_ops"]
    ops = create_operators(cfg)
    with open(path, "rb") as f:
        data = f.read()
    totals = np.zeros(len(ops))
    for _ in range(repeats):
        x = data
        for k, op in enumerate(ops):
            start = time.perf_counter()
            x = op(x)
            totals[k] += time.perf_counter() - start
    return [(type(op).__name__, 1000 * t / repeats) for op, t in zip(ops, totals)]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from ppcls_ext.engine import load_config
    from ppcls_ext.engine.data import build_dataloader, create_operators

    print(f"{os.cpu_count()} CPUs; {args.images} images, batch {args.batch}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        mean_bytes = make_images(tmp, args.images)
        print(f"synthetic JPEGs: 500x375, mean {mean_bytes / 1024:.0f} KB", flush=True)
        for mode in ("Train", "Eval"):
            results = {w: 0.0 for w in args.workers}
            for _ in range(args.repeats):
                for workers in args.workers:
                    value, shapes = loader_throughput(
                        build_dataloader, load_config, tmp, mode, args.batch, workers)
                    results[workers] = max(results[workers], value)
            for workers, value in results.items():
                print(f"{mode:5s} num_workers={workers}: {value:7.1f} images/s "
                      f"(best of {args.repeats}; {shapes})", flush=True)
            base = results.get(min(results))
            for workers, value in results.items():
                if workers != min(results):
                    print(f"{mode:5s} speed-up num_workers={workers} vs {min(results)}: "
                          f"{value / base:.2f}x")
        ops = per_op_breakdown(create_operators, load_config, os.path.join(tmp, "img", "0.jpg"))
        print("Train ops, one process, ms/image: "
              + ", ".join(f"{name} {ms:.2f}" for name, ms in ops)
              + f"; sum {sum(ms for _, ms in ops):.2f}")


if __name__ == "__main__":
    main()
