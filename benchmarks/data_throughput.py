"""Loader throughput of the full ImageNet training pipeline (224 px), images/s.

    python benchmarks/data_throughput.py [--images 256] [--batch 32] [--workers 0 2]

Synthetic JPEGs of ImageNet-like size (500x375, quality 90) go through the mini config's
DataLoader.Train (RandomResizedCrop, flip, RandAugment, normalise, random erasing, then
Mixup/CutMix per batch); compare with the model's training speed to see whether a run is
input-bound.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def make_images(root, n):
    rng = np.random.RandomState(0)
    os.makedirs(os.path.join(root, "img"))
    lines = []
    base = rng.randint(0, 256, (375, 500, 3), dtype=np.uint8)
    for i in range(n):
        Image.fromarray(np.roll(base, i * 7, axis=1)).save(
            os.path.join(root, "img", f"{i}.jpg"), quality=90)
        lines.append(f"img/{i}.jpg {i % 1000}")
    with open(os.path.join(root, "train_list.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    from ppcls_ext.engine import load_config
    from ppcls_ext.engine.data import build_dataloader

    with tempfile.TemporaryDirectory() as tmp:
        make_images(tmp, args.images)
        results = {}
        for workers in args.workers:
            cfg = load_config(os.path.join(ROOT, "configs/ImageNet/EConvNeXt/EConvNeXt_mini.yaml"),
                              [f"DataLoader.Train.dataset.image_root={tmp}",
                               f"DataLoader.Train.dataset.cls_label_path={tmp}/train_list.txt",
                               f"DataLoader.Train.sampler.batch_size={args.batch}",
                               f"DataLoader.Train.loader.num_workers={workers}"])
            cfg["DataLoader"]["class_num"] = 1000
            loader = build_dataloader(cfg["DataLoader"], "Train", "cpu", seed=0)
            it = iter(loader)
            next(it)  # start-up (worker spawn) excluded
            t, n = time.perf_counter(), 0
            for images, _ in it:
                n += images.shape[0]
            results[workers] = n / (time.perf_counter() - t)
            print(f"num_workers={workers}: {results[workers]:.1f} images/s "
                  f"(224 px, full training pipeline, batch {args.batch})", flush=True)
        if 0 in results and len(results) > 1:
            for w, v in results.items():
                if w:
                    print(f"speed-up with {w} workers: {v / results[0]:.2f}x")


if __name__ == "__main__":
    main()
