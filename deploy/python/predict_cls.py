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
training package (once the model folder has its ONNX file: a folder without one is converted
on first use, which needs paddle2onnx and so Paddle): preprocessing and Top-k come from the
Paddle-free ``ppcls_infer`` package (deploy/requirements.txt lists what such a deployment
installs). ``-o`` and errors follow the project's one command-line harness
(``ppcls_infer.cli``): values are YAML literals, a user mistake is one ``error:`` line,
``PPCLS_DEBUG=1`` shows its traceback.
"""
import copy
import logging
import os
import sys
import time

import numpy as np

from backends import check_input, create_backend
from ppcls_infer import bounded_yaml, paddleclas_keys
from ppcls_infer.atomic import atomic_write, write_json
from ppcls_infer.cli import (USER_ERRORS, InvalidValueError, MissingPathError, OverrideError,
                             apply_overrides, make_parser, parse_overrides, report, run)
from ppcls_infer.postprocess import build_postprocess, iter_batches
from ppcls_infer.preprocess import create_operators, preprocess_file
from ppcls_infer.sources import list_images
from ppcls_infer.timing import measure_latency
from ppcls_infer.values import Boolean, Number, check_values, positive_int

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "configs", "inference_cls.yaml")

logger = logging.getLogger("deploy")
DEFAULT_TOPK = 5  # PaddleClas's deploy configs

def list_inputs(path):
    """An image, a folder (recursive) or a list file of image paths (``ppcls_infer.sources``:
    any-case extensions, BOM, CRLF, spaces in paths, optional labels); the files that are not
    images are logged."""
    listing = list_images(path, what="Global.infer_imgs")
    if listing.ignored:
        logger.warning("Global.infer_imgs: %d file(s) that are not images left out (%s%s)",
                       len(listing.ignored),
                       ", ".join(os.path.basename(p) for p in listing.ignored[:5]),
                       ", ..." if len(listing.ignored) > 5 else "")
    return listing.images


def apply_preprocess_overrides(pre, overrides, source):
    """``-o PreProcess.transform_ops.N.Op.key=value`` applied to a model's own preprocessing
    (its inference.yml ``PreProcess``), as PaddleClas's predictor applies them to the deploy
    config's. An override naming another op than the one at index N is refused, listing the
    model's ops. Returns a new ``pre``."""
    pre = copy.deepcopy(pre)
    ops = pre.get("transform_ops") or []
    names = [next(iter(op)) if isinstance(op, dict) and op else str(op) for op in ops]
    for parts, _ in parse_overrides(overrides):
        if len(parts) >= 4 and parts[1] == "transform_ops" and parts[2].isdigit():
            i = int(parts[2])
            have = names[i] if i < len(names) else "no op"
            if have != parts[3]:
                raise OverrideError(
                    f"-o {'.'.join(parts)}: the model's preprocessing ({source}) has {have} at "
                    f"index {i}, not {parts[3]} (its ops: {', '.join(names)})")
    apply_overrides({"PreProcess": pre}, overrides)
    if overrides:
        logger.info("applied to the preprocessing of %s: %s", source, " ".join(overrides))
    return pre


def check_paddleclas_keys(config):
    """PaddleClas's predictor keys (``ppcls_infer.paddleclas_keys``): ``use_onnx`` becomes
    ``backend: onnxruntime``; a refused key set stops with the reason; a PostProcess op that
    is not run is named in a warning."""
    g = config["Global"]
    for key, reason in paddleclas_keys.REFUSED.items():
        if g.get(key):
            raise InvalidValueError(f"Global.{key}={g[key]!r} is not supported: {reason}")
    if g.get("use_onnx"):
        backend = g.get("backend") or "paddle"
        if backend not in ("paddle", "onnxruntime"):
            raise InvalidValueError(
                f"Global.use_onnx=True asks for ONNX Runtime but Global.backend is "
                f"{backend!r}: drop one of them")
        g["backend"] = "onnxruntime"
    for key, reason in paddleclas_keys.POSTPROCESS_WARNED.items():
        if key in (config.get("PostProcess") or {}):
            logger.warning("PostProcess.%s is not run: %s", key, reason)
    return config


class ClsPredictor:
    """Classify images with a ``tools/export_model.py`` export, as PaddleClas's deploy
    predictor does, on Paddle Inference, ONNX Runtime or OpenVINO (``Global.backend``).

    Args:
        config: a deploy config in PaddleClas's schema (``deploy/configs/inference_cls.yaml``
            or the paddleclas wheel's): ``Global`` (``inference_model_dir``, ``backend``,
            ``precision``, ``batch_size``, ``cpu_num_threads``, ``use_gpu``, ...),
            ``PreProcess`` and ``PostProcess.Topk``. The export's own ``inference.yml``
            (preprocessing, label names) takes precedence, so deployment cannot drift from
            the training config.
        preprocess_overrides: the ``-o PreProcess...`` items, re-applied to the model's
            inference.yml preprocessing when the folder has one (``load_config`` has applied
            them to the deploy config's own PreProcess already).

    With ``backend`` onnxruntime or openvino nothing here imports Paddle. Attributes:
    ``backend`` (see ``backends.create_backend``), ``input_shape`` (``[N, C, H, W]``, None
    where dynamic), ``batch_size``.

    Raises:
        FileNotFoundError: the model folder or a model file is missing.
        ValueError: an unknown backend, precision or PreProcess/PostProcess key, or a
            PreProcess override naming another op than the model's.
        backends.BackendError: the runtime the config asks for is not installed or cannot run.
    """

    def __init__(self, config, preprocess_overrides=()):
        g = config["Global"]
        self.g = g
        model_dir = g.get("inference_model_dir")
        self.backend = create_backend(model_dir, g)
        exported = {}
        yml = os.path.join(model_dir, "inference.yml")
        if os.path.isfile(yml):
            with open(yml) as f:
                exported = bounded_yaml.safe_load(f) or {}
        if exported.get("PreProcess"):
            pre = apply_preprocess_overrides(exported["PreProcess"], list(preprocess_overrides),
                                             yml)
        else:
            pre = config.get("PreProcess") or {}
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
        """Top-k from ``PostProcess.Topk``: ``topk`` set in the deploy config (or by ``-o
        PostProcess.Topk.topk``) wins, else the export's inference.yml ``PostProcess.Topk.topk``
        (the training config's ``Infer.PostProcess.topk``), else 5; label names: the export's
        ``label_list`` beats the deploy config's generic ``class_id_map_file``."""
        topk_cfg = dict(post_cfg.get("Topk") or {})
        topk_cfg["name"] = "Topk"
        model_topk = (exported.get("PostProcess") or {}).get("Topk") or {}
        if topk_cfg.get("topk") is None:
            topk_cfg["topk"] = model_topk.get("topk", DEFAULT_TOPK)
        labels = model_topk.get("label_list")
        if labels:  # the exported model's own label names beat a generic label file
            topk_cfg.pop("class_id_map_file", None)
            topk_cfg["label_list"] = labels
        return build_postprocess(topk_cfg, where="PostProcess.Topk")

    def preprocess(self, path):
        return preprocess_file(self.ops, path)

    def predict_batch(self, batch):
        """Run one preprocessed batch ``[N, C, H, W]`` (float32); returns the backend's
        ``[N, class_num]`` output. Raises ValueError when the batch does not have the shape
        the model was exported for."""
        if self.input_shape:
            check_input(batch, self.input_shape)
        return self.backend(batch)

    def predict(self, paths):
        """Classify image files in batches of ``batch_size``.

        Returns:
            ``(results, bad)``: per readable image ``{"class_ids", "scores", "file_name",
            "label_names"}`` with the top-k classes (``scores`` are the model's outputs:
            softmax probabilities for a default export), and ``{"file_name", "error"}`` per
            image that could not be read or decoded. ``self.timings`` then holds the run's
            seconds per stage (``preprocess``, ``inference``, ``postprocess``) and its
            ``images``: what PaddleClas's ``Global.benchmark`` reports (its AutoLog times the
            real predictions).
        """
        results, bad = [], []
        timings = self.timings = dict(preprocess=0.0, inference=0.0, postprocess=0.0, images=0)

        def skip(path, exc):
            bad.append({"file_name": path, "error": str(exc)})

        def timed_preprocess(path):
            start = time.perf_counter()
            try:
                return self.preprocess(path)
            finally:
                timings["preprocess"] += time.perf_counter() - start

        for batch, names in iter_batches(paths, timed_preprocess, self.batch_size, skip):
            start = time.perf_counter()
            output = self.predict_batch(batch)
            middle = time.perf_counter()
            results.extend(self.postprocess(output, names))
            timings["inference"] += middle - start
            timings["postprocess"] += time.perf_counter() - middle
            timings["images"] += len(names)
        return results, bad

    def benchmark(self, batch_sizes=(1, 8), warmup=10, repeats=50):
        """Latency of the backend alone on random input of the exported shape (224x224 where
        dynamic): ``{batch_size: {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "runs",
        "images_per_s"}}``, times in milliseconds over ``repeats`` runs after ``warmup`` runs
        (``ppcls_infer.timing.measure_latency``), images per second from the mean."""
        shape = [s or 224 for s in (self.input_shape or [None, 3, 224, 224])[1:]]
        report = {}
        for bs in batch_sizes:
            x = np.random.rand(bs, *shape).astype(np.float32)
            r = measure_latency(lambda: self.backend(x), warmup, repeats)
            report[bs] = dict(r, images_per_s=bs * 1000.0 / r["mean_ms"])
        return report


# The values the predictor and its backends read (PaddleClas's deploy keys and this project's),
# checked once after -o is merged: one line naming the key, the -o item or file, what is valid.
_FLAGS = ("use_gpu", "enable_mkldnn", "ir_optim", "use_tensorrt", "use_fp16", "use_onnx",
          "enable_benchmark", "benchmark", "enable_profile", "ort_blocked_elementwise")
DEPLOY_VALUES = {
    "Global.batch_size": positive_int("images per forward pass"),
    "Global.cpu_num_threads": positive_int("CPU threads of the backend"),
    "Global.gpu_mem": positive_int("MB of GPU memory reserved at start"),
    "Global.gpu_id": Number(int, minimum=0, meaning="CUDA device index"),
    "Global.trt_max_batch_size": positive_int("TensorRT profile's largest batch"),
    **{f"Global.{key}": Boolean() for key in _FLAGS},
    "PostProcess.Topk.topk": positive_int("classes reported per image"),
}


def load_config(path, overrides):
    """The deploy YAML plus ``-o`` overrides, read without the paddleclas wheel (whose config
    module imports Paddle through the wheel's ``__init__``)."""
    if not os.path.isfile(path):
        raise MissingPathError(f"deploy config {path!r} does not exist")
    with open(path) as f:
        config = bounded_yaml.safe_load(f) or {}
    known = set(paddleclas_keys.HONOURED) | set(paddleclas_keys.REFUSED) | \
        set(paddleclas_keys.EXTENSIONS)
    # a Global key the config lacks may be added only if some part of the predictor reads it:
    # a misspelt -o Global.infer_img would otherwise be ignored while the config's default runs
    apply_overrides(config, overrides,
                    new_key=lambda path: path[0] != "Global" or len(path) != 2
                    or path[1] in known,
                    new_section=lambda path: len(path) == 1 and
                    path[0] in ("Global", "PreProcess", "PostProcess"))
    if not isinstance(config.get("Global"), dict):
        raise InvalidValueError(f"deploy config {path!r} has no Global section")
    check_values(config, DEPLOY_VALUES, path, overrides)
    return check_paddleclas_keys(config)


def benchmark_lines(predictor, g):
    """The report of PaddleClas's ``Global.benchmark`` (the run's own milliseconds per image
    by stage, as its AutoLog) and of this project's ``enable_benchmark`` (latency
    percentiles on random input at batch 1 and 8), with ``Global.model_name`` when given."""
    head = (f"[benchmark] {'model=' + str(g['model_name']) + ' ' if g.get('model_name') else ''}"
            f"backend={g.get('backend', 'paddle')} precision={predictor.backend.precision}")
    lines = []
    t = getattr(predictor, "timings", None)
    if g.get("benchmark") and t and t["images"]:
        per = {k: 1000.0 * t[k] / t["images"] for k in ("preprocess", "inference", "postprocess")}
        lines.append(f"{head} batch={predictor.batch_size} images={t['images']} ms per image: "
                     f"preprocess={per['preprocess']:.2f} inference={per['inference']:.2f} "
                     f"postprocess={per['postprocess']:.2f}")
    if g.get("enable_benchmark"):
        lines += [f"{head} batch={bs} p50={r['p50_ms']:.2f}ms p90={r['p90_ms']:.2f}ms "
                  f"p99={r['p99_ms']:.2f}ms {r['images_per_s']:.1f} img/s"
                  for bs, r in predictor.benchmark().items()]
    return lines


def write_benchmark_log(lines, path):
    """``Global.save_log_path``: the benchmark report also written to a file (PaddleClas's
    AutoLog report path), atomically."""
    atomic_write(path, "\n".join(lines) + "\n")


def main(argv=None):
    parser = make_parser(__doc__, config_required=False, example="Global.backend=openvino")
    parser.set_defaults(config=DEFAULT_CONFIG)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(levelname)s %(message)s")
    try:
        config = load_config(args.config, args.override)
        pre_overrides = [o for o in args.override if o.strip().startswith("PreProcess.")]
        predictor = ClsPredictor(config, pre_overrides)
        results, bad = predictor.predict(list_inputs(config["Global"].get("infer_imgs")))
    except USER_ERRORS as exc:
        return report(exc)
    for result in results:
        print(result)
    for item in bad:
        print(f"skipped unreadable image: {item['error']}", file=sys.stderr)
    g = config["Global"]
    if g.get("save_results"):
        write_json(g["save_results"], {"results": results, "unreadable": bad})
    if g.get("enable_benchmark") or g.get("benchmark"):
        lines = benchmark_lines(predictor, g)
        print("\n".join(lines))
        if g.get("save_log_path") not in (None, "", "null", "None"):
            write_benchmark_log(lines, g["save_log_path"])
            print(f"benchmark report written to {g['save_log_path']}")
    if not results:
        print("error: no image could be read", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run(main))  # a full disk or read-only output folder: one line too
