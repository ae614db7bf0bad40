"""Classify images with an exported model: Paddle Inference, ONNX Runtime or OpenVINO.

    python deploy/python/predict_cls.py -c deploy/configs/inference_cls.yaml \
        -o Global.inference_model_dir=inference/EConvNeXt_mini_digits \
        -o Global.infer_imgs=dataset/digits/images/val \
        [-o Global.backend=onnxruntime|openvino] [-o Global.precision=bf16]

The config is PaddleClas's deploy schema (the wheel's deploy/configs/inference_cls.yaml works
unchanged apart from -o overrides of paths and devices). When the model folder holds
``inference.yml`` (written by tools/export_model.py), its PreProcess and label names are used,
so deployment preprocesses exactly as the exported training config; the deploy config's
PreProcess and class_id_map_file apply to models exported without it.

With the onnxruntime and openvino backends nothing here imports Paddle, paddleclas or the
training package: preprocessing and Top-k come from the Paddle-free ``ppcls_infer`` package
(deploy/requirements.txt lists what such a deployment installs). ``-o`` and errors follow the
project's one command-line harness (``ppcls_infer.cli``): values are YAML literals, a user
mistake is one ``error:`` line, ``PPCLS_DEBUG=1`` shows its traceback.
"""
import json
import logging
import os
import sys
import time

import numpy as np
import yaml

from backends import check_input, create_backend
from ppcls_infer.cli import USER_ERRORS, apply_overrides, make_parser, report
from ppcls_infer.postprocess import build_postprocess, iter_batches
from ppcls_infer.preprocess import create_operators, preprocess_file

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "configs", "inference_cls.yaml")

logger = logging.getLogger("deploy")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def list_inputs(path):
    """An image, a folder (recursive) or a .txt list of image paths (one per line)."""
    if not path or not os.path.exists(path):
        raise FileNotFoundError(f"Global.infer_imgs {path!r} does not exist (an image, a folder "
                                "or a .txt list of image paths)")
    if os.path.isdir(path):
        found = sorted(os.path.join(d, f) for d, _, files in os.walk(path) for f in files
                       if f.lower().endswith(IMAGE_EXTENSIONS))
    elif path.endswith(".txt"):
        base = os.path.dirname(path)
        with open(path) as f:
            found = [os.path.join(base, line.split()[0]) for line in f if line.strip()]
    else:
        found = [path]
    if not found:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {path!r}")
    return found


class ClsPredictor:
    def __init__(self, config):
        g = config["Global"]
        self.g = g
        model_dir = g.get("inference_model_dir")
        self.backend = create_backend(model_dir, g)
        exported = {}
        yml = os.path.join(model_dir, "inference.yml")
        if os.path.isfile(yml):
            with open(yml) as f:
                exported = yaml.safe_load(f) or {}
        pre = (exported.get("PreProcess") or config.get("PreProcess") or {})
        self.ops = create_operators(pre.get("transform_ops"), where="PreProcess.transform_ops")
        self.postprocess = self._postprocess(config.get("PostProcess") or {}, exported)
        shape = (exported.get("Global") or {}).get("image_shape")
        self.input_shape = self.backend.input_shape or ([None] + list(shape) if shape else None)
        self.batch_size = int(g.get("batch_size", 1))
        logger.info("backend %s on %s, %s threads, precision %s", g.get("backend", "paddle"),
                    getattr(self.backend, "device", "CPU"), g.get("cpu_num_threads", 2),
                    self.backend.precision)
        if hasattr(self.backend, "executed_precisions"):  # OpenVINO: what its kernels run
            logger.info("convolutions/matmuls by runtime precision: %s",
                        self.backend.executed_precisions())

    @staticmethod
    def _postprocess(post_cfg, exported):
        topk_cfg = dict(post_cfg.get("Topk") or {"topk": 5})
        topk_cfg["name"] = "Topk"
        labels = ((exported.get("PostProcess") or {}).get("Topk") or {}).get("label_list")
        if labels:  # the exported model's own label names beat a generic label file
            topk_cfg.pop("class_id_map_file", None)
            topk_cfg["label_list"] = labels
        return build_postprocess(topk_cfg, where="PostProcess.Topk")

    def preprocess(self, path):
        return preprocess_file(self.ops, path)

    def predict_batch(self, batch):
        if self.input_shape:
            check_input(batch, self.input_shape)
        return self.backend(batch)

    def predict(self, paths):
        """Returns (results, bad): top-k dicts for readable images, and unreadable paths."""
        results, bad = [], []

        def skip(path, exc):
            bad.append({"file_name": path, "error": str(exc)})

        for batch, names in iter_batches(paths, self.preprocess, self.batch_size, skip):
            results.extend(self.postprocess(self.predict_batch(batch), names))
        return results, bad

    def benchmark(self, batch_sizes=(1, 8), warmup=10, repeats=50):
        """Latency percentiles and throughput on random input of the exported shape."""
        shape = [s or 224 for s in (self.input_shape or [None, 3, 224, 224])[1:]]
        report = {}
        for bs in batch_sizes:
            x = np.random.rand(bs, *shape).astype(np.float32)
            for _ in range(warmup):
                self.backend(x)
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                self.backend(x)
                times.append((time.perf_counter() - t) * 1000)
            p50, p90, p99 = np.percentile(times, [50, 90, 99])
            report[bs] = dict(p50_ms=p50, p90_ms=p90, p99_ms=p99,
                              images_per_s=bs * 1000.0 / np.mean(times))
        return report


def load_config(path, overrides):
    """The deploy YAML plus ``-o`` overrides, read without the paddleclas wheel (whose config
    module imports Paddle through the wheel's ``__init__``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"deploy config {path!r} does not exist")
    with open(path) as f:
        config = yaml.safe_load(f) or {}
    apply_overrides(config, overrides, new_section=lambda path: len(path) == 1 and
                    path[0] in ("Global", "PreProcess", "PostProcess"))
    if not isinstance(config.get("Global"), dict):
        raise ValueError(f"deploy config {path!r} has no Global section")
    return config


def main(argv=None):
    parser = make_parser(__doc__, config_required=False)
    parser.set_defaults(config=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(levelname)s %(message)s")
    try:
        config = load_config(args.config, args.override)
        predictor = ClsPredictor(config)
        results, bad = predictor.predict(list_inputs(config["Global"].get("infer_imgs")))
    except USER_ERRORS as exc:
        return report(exc)
    for result in results:
        print(result)
    for item in bad:
        print(f"skipped unreadable image: {item['error']}", file=sys.stderr)
    g = config["Global"]
    if g.get("save_results"):
        with open(g["save_results"], "w") as f:
            json.dump({"results": results, "unreadable": bad}, f, indent=1)
    if g.get("enable_benchmark", False):
        for bs, r in predictor.benchmark().items():
            print(f"[benchmark] backend={g.get('backend', 'paddle')} "
                  f"precision={predictor.backend.precision} batch={bs} "
                  f"p50={r['p50_ms']:.2f}ms p90={r['p90_ms']:.2f}ms p99={r['p99_ms']:.2f}ms "
                  f"{r['images_per_s']:.1f} img/s")
    if not results:
        print("error: no image could be read", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
