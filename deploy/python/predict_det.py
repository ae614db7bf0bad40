"""Detect objects with an exported PaddleDetection model: Paddle Inference, ONNX Runtime or
OpenVINO.

    python deploy/python/predict_det.py --model_dir inference/ppyoloe_s_econvnext_mini_digits \
        --image_file dataset/digits_det/images/val/00000.png [--image_dir DIR] \
        [--backend paddle|onnxruntime|openvino] [--precision fp32|bf16] [--threshold T] \
        [--output_dir output/det_predict]

The model folder is what tools/det/export_model.py writes (PaddleDetection's export format):
``model.json`` (or ``model.pdmodel``) + ``model.pdiparams``, inputs ``image``, ``im_shape``,
``scale_factor``, outputs the boxes ``[N, 6]`` (class, score, x1, y1, x2, y2, NMS inside the
model) and the box count per image, and ``infer_cfg.yml`` with the preprocessing and the
label list. The flags are those of PaddleDetection's deploy/python/infer.py (``--model_dir``,
``--image_file``/``--image_dir``, ``--threshold``, ``--output_dir``, ``--cpu_threads``,
``--enable_mkldnn``, ``--run_benchmark``); ``--backend onnxruntime`` and ``--backend
openvino`` run ``model.onnx``, converted from the Paddle model with paddle2onnx on first use
when it is missing. ``--threshold`` defaults to the export's ``draw_threshold`` (0.5 for
PaddleDetection's NMS-ed detectors, 0.25 for the NMS-free YOLOv10). ``--precision bf16``
(Paddle Inference with oneDNN, OpenVINO) as the classification predictor offers it: on a CPU
with AVX512-BF16 or AMX; OpenVINO is told fp32 explicitly otherwise, since it would pick bf16
by itself on such CPUs.
Writes ``<output_dir>/det_results.json`` (every box above ``--threshold``, in input pixels)
and each image with its boxes drawn to ``<output_dir>/<image name>``.

Images are decoded as in classification (``ppcls_infer.decode``, PIL: a truncated file is
reported, not half-read); preprocessing uses PaddleDetection's own operators. The training
package (``ppcls_ext``) is never imported; errors follow ``ppcls_infer.cli`` (one ``error:``
line, ``PPCLS_DEBUG=1`` for the traceback).
"""
import argparse
import contextlib
import io
import json
import os
import sys
import time

import numpy as np
from ppcls_infer import bounded_yaml
from ppcls_infer.cli import USER_ERRORS, InvalidValueError, MissingPathError, report
from ppcls_infer.decode import decode_image
from ppcls_infer.postprocess import clip_boxes
from ppcls_infer.sources import list_images as _list_images

INPUT_NAMES = ("image", "im_shape", "scale_factor")
PRECISIONS = ("fp32", "bf16")
DEFAULT_THRESHOLD = 0.5  # when infer_cfg.yml has no draw_threshold (PaddleDetection's value)


def _cpu_has_bf16():
    """AVX512-BF16 or AMX in /proc/cpuinfo (deploy/python/cpu_info.py's reading)."""
    from cpu_info import cpu_flags

    flags = cpu_flags()
    return flags["bf16"] or flags["amx"]


def _require(path, what):
    if not os.path.isfile(path):
        raise MissingPathError(f"{what} {path!r} not found; export the model with "
                               "tools/det/export_model.py -c CONFIG -o weights=CHECKPOINT")


def paddle_model_files(model_dir):
    """(model file, params file) of an export: model.json under PIR, else model.pdmodel."""
    if not model_dir or not os.path.isdir(model_dir):
        raise MissingPathError(f"--model_dir {model_dir!r} is not a directory; export a model "
                               "first (tools/det/export_model.py)")
    model = os.path.join(model_dir, "model.json")
    if not os.path.isfile(model):
        model = os.path.join(model_dir, "model.pdmodel")
    _require(model, "Paddle inference model (model.json or model.pdmodel)")
    params = os.path.join(model_dir, "model.pdiparams")
    _require(params, "Paddle inference parameters")
    return model, params


def load_infer_cfg(model_dir):
    path = os.path.join(model_dir, "infer_cfg.yml")
    _require(path, "PaddleDetection infer_cfg.yml")
    with open(path) as f:
        cfg = bounded_yaml.safe_load(f) or {}
    if not isinstance(cfg.get("Preprocess"), list) or not cfg.get("label_list"):
        raise InvalidValueError(f"{path} has no Preprocess list or label_list; re-export the model "
                                "with tools/det/export_model.py")
    return cfg


def _pad_stride(sample, stride):
    # PaddleDetection deploy/python/preprocess.py's PadStride: zero-pad bottom/right to a
    # multiple of ``stride`` (not among ppdet's training operators).
    image = sample["image"]
    c, h, w = image.shape
    ph, pw = int(np.ceil(h / stride) * stride), int(np.ceil(w / stride) * stride)
    padded = np.zeros((c, ph, pw), image.dtype)
    padded[:, :h, :w] = image
    sample["image"] = padded
    return sample


def _ppdet():
    """PaddleDetection, imported quietly and without its process-wide side effect.

    ``import ppdet`` prints warnings about its tracking extras (stdout) and its trainer sets
    PIL's ``ImageFile.LOAD_TRUNCATED_IMAGES = True``, which would let the PIL decoder here
    accept truncated files: the flag is put back to its value before the import.
    """
    if "ppdet" in sys.modules:
        return sys.modules["ppdet"]
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    with contextlib.redirect_stdout(io.StringIO()):
        import ppdet
        import ppdet.data.transform.operators  # noqa: F401
    ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    return ppdet


def build_preprocess(steps):
    """infer_cfg.yml's Preprocess -> callables on a sample dict, PaddleDetection's own
    operators (ppdet.data.transform.operators) wherever they exist."""
    _ppdet()
    from ppdet.data.transform import operators

    ops = []
    for step in steps:
        kwargs = dict(step)
        name = kwargs.pop("type", None)
        if name == "PadStride":
            ops.append(lambda s, stride=int(kwargs.get("stride", 32)): _pad_stride(s, stride))
        elif name in ("Resize", "NormalizeImage", "Permute", "Pad", "LetterBoxResize"):
            ops.append(getattr(operators, name)(**kwargs))
        else:
            raise InvalidValueError(
                f"infer_cfg.yml Preprocess step {name!r} is not supported; valid: "
                "Resize, NormalizeImage, Permute, Pad, LetterBoxResize, PadStride")
    return ops


def decode_rgb(path):
    """An image file -> HxWx3 uint8 RGB (``ppcls_infer.decode``, PIL), or a one-line error."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return decode_image(data, path)
    except ValueError as exc:
        raise InvalidValueError(f"cannot decode image {path!r}: {exc}") from None


def draw_boxes(image, detections):
    """``image`` (HxWx3 uint8) with each detection's box and "label score" drawn (PIL).

    The look of PaddleDetection's ``ppdet.utils.visualizer.draw_bbox`` (one colour per class,
    2-pixel boxes, the label on a filled strip above the box), written with Pillow 10's
    ``textbbox`` (draw_bbox calls ``textsize``, which Pillow 10 removed).
    """
    from PIL import Image, ImageDraw

    drawn = Image.fromarray(image)
    draw = ImageDraw.Draw(drawn)
    for det in detections:
        x1, y1, x2, y2 = det["bbox"]
        hue = (det["class_id"] * 2654435761) & 0xFFFFFF
        color = ((hue >> 16) & 255, (hue >> 8) & 255, hue & 255)
        draw.rectangle([x1, y1, x2, y2], outline=color, width=2)
        text = f"{det['label']} {det['score']:.2f}"
        left, top, right, bottom = draw.textbbox((x1, y1), text)
        height = bottom - top
        draw.rectangle([x1, y1 - height - 2, x1 + right - left + 2, y1], fill=color)
        draw.text((x1 + 1, y1 - height - 1), text, fill=(255, 255, 255))
    return drawn


class PaddleBackend:
    """Paddle Inference on a PaddleDetection export (``model.json``/``model.pdmodel`` +
    ``model.pdiparams``), CPU, oneDNN unless ``args.enable_mkldnn`` is false,
    ``args.cpu_threads`` threads. Called with the feed dict of :meth:`DetPredictor.preprocess`;
    returns ``[boxes, counts]``: ``boxes [M, 6]`` (class id, score, x1, y1, x2, y2 in pixels of
    the original image, after NMS) and ``counts [batch]`` (boxes per image).

    Raises:
        ValueError: the export takes inputs other than image / im_shape / scale_factor.
    """

    def __init__(self, model_dir, args):
        from paddle import inference

        config = inference.Config(*paddle_model_files(model_dir))
        config.disable_gpu()
        self.precision = "fp32"
        if args.enable_mkldnn:
            config.set_mkldnn_cache_capacity(10)
            config.enable_mkldnn()
            if args.precision == "bf16":  # as deploy/python/backends.py for classification
                if not _cpu_has_bf16():
                    raise InvalidValueError("--precision bf16 needs a CPU with AVX512-BF16 or AMX; "
                                            "this one has neither: use --precision fp32")
                config.enable_onednn_bfloat16()
                self.precision = "bf16"
        elif args.precision == "bf16":
            raise InvalidValueError("--precision bf16 on Paddle Inference needs oneDNN: drop "
                                    "--enable_mkldnn false, or use --precision fp32")
        else:
            config.disable_mkldnn()
        config.set_cpu_math_library_num_threads(args.cpu_threads)
        config.disable_glog_info()
        self.predictor = inference.create_predictor(config)
        names = self.predictor.get_input_names()
        missing = set(names) - set(INPUT_NAMES)
        if missing:
            raise InvalidValueError(f"{model_dir} takes inputs {names}; this predictor feeds "
                                    f"{list(INPUT_NAMES)} (a PaddleDetection export)")
        self.inputs = {n: self.predictor.get_input_handle(n) for n in names}

    def __call__(self, feed):
        for name, handle in self.inputs.items():
            handle.reshape(feed[name].shape)
            handle.copy_from_cpu(np.ascontiguousarray(feed[name]))
        self.predictor.run()
        names = self.predictor.get_output_names()
        return [self.predictor.get_output_handle(n).copy_to_cpu() for n in names[:2]]


def convert_to_onnx(model_dir, opset_version=16):
    """paddle2onnx of the Paddle export into ``model_dir/model.onnx`` (written atomically).
    No post-optimizer: paddle2onnx's default one pip-installs packages (see
    ppcls_ext.export.to_onnx); ONNX Runtime optimizes the graph when loading it."""
    import paddle2onnx

    model_file, params_file = paddle_model_files(model_dir)
    save_file = os.path.join(model_dir, "model.onnx")
    tmp = save_file + ".tmp"
    paddle2onnx.export(model_file, params_file, tmp, opset_version=opset_version,
                       enable_onnx_checker=True, optimize_tool="None")
    os.replace(tmp, save_file)
    return save_file


def onnx_model(model_dir):
    """``model_dir/model.onnx``, converted from the Paddle export on first use."""
    path = os.path.join(model_dir, "model.onnx")
    if not os.path.isfile(path):
        path = convert_to_onnx(model_dir)
        print(f"converted the Paddle model to {path}", file=sys.stderr)
    return path


class OnnxRuntimeBackend:
    """ONNX Runtime (CPU) on ``model_dir/model.onnx``, converted from the Paddle export with
    paddle2onnx on first use. Same call and outputs as :class:`PaddleBackend`."""

    def __init__(self, model_dir, args):
        import onnxruntime as ort

        if args.precision != "fp32":
            raise InvalidValueError(
                f"--precision {args.precision} is not offered by the onnxruntime "
                "backend; use --backend openvino (or paddle), or --precision fp32")
        self.precision = "fp32"
        path = onnx_model(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.cpu_threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(path, sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, feed):
        return self.session.run(None, {n: feed[n] for n in self.names})[:2]


class OpenVinoBackend:
    """OpenVINO on the CPU from ``model.onnx`` (its Paddle frontend reads only the legacy
    ``.pdmodel``, not Paddle 3's PIR ``model.json``): latency hint, ``--cpu_threads`` threads
    and an explicit inference precision, the settings of the classification predictor's
    OpenVINO backend (deploy/python/backends.py)."""

    HINTS = {"fp32": "f32", "bf16": "bf16"}

    def __init__(self, model_dir, args):
        import openvino as ov

        if args.precision == "bf16" and not _cpu_has_bf16():
            raise InvalidValueError(
                "--precision bf16 needs a CPU with AVX512-BF16 or AMX; this one "
                "has neither: use --precision fp32")
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(onnx_model(model_dir)), "CPU", {
            "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": int(args.cpu_threads),
            "INFERENCE_PRECISION_HINT": self.HINTS[args.precision]})
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.precision = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}.get(ran, ran)
        self.names = [port.get_any_name() for port in self.compiled.inputs]
        self.request = self.compiled.create_infer_request()

    def __call__(self, feed):
        out = self.request.infer({n: np.ascontiguousarray(feed[n]) for n in self.names})
        return [out[port].copy() for port in self.compiled.outputs[:2]]


BACKENDS = {"paddle": PaddleBackend, "onnxruntime": OnnxRuntimeBackend,
            "openvino": OpenVinoBackend}


class DetPredictor:
    """Detect objects with a ``tools/det/export_model.py`` export (PP-YOLOE with NMS inside,
    YOLOv10 NMS-free), without the training package: the preprocessing comes from the
    export's ``infer_cfg.yml`` (PaddleDetection's own operators), decoding is
    ``ppcls_infer``'s (PIL).

    Args:
        model_dir: the export folder (``model.json``/``.pdiparams`` and ``infer_cfg.yml``).
        backend: ``"paddle"`` (Paddle Inference), ``"onnxruntime"`` or ``"openvino"``.
        threshold: lowest score a detection keeps (probability in [0, 1]); None: the export's
            ``draw_threshold`` (0.5 for PaddleDetection's detectors, 0.25 for YOLOv10).
        cpu_threads, enable_mkldnn: CPU threads and oneDNN for Paddle Inference.
        precision: ``"fp32"`` or ``"bf16"`` (Paddle Inference with oneDNN, OpenVINO).

    Raises:
        ValueError: an unknown backend or precision, or a precision the backend or CPU lacks.
        FileNotFoundError: the folder, a model file or ``infer_cfg.yml`` is missing.
    """

    def __init__(self, model_dir, backend="paddle", threshold=None, cpu_threads=2,
                 enable_mkldnn=True, precision="fp32"):
        if backend not in BACKENDS:
            raise InvalidValueError(f"--backend {backend!r}; valid: {', '.join(BACKENDS)}")
        if precision not in PRECISIONS:
            raise InvalidValueError(f"--precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        if not (backend in ("onnxruntime", "openvino") and
                os.path.isfile(os.path.join(model_dir or "", "model.onnx"))):
            paddle_model_files(model_dir)  # the folder and the model files, named, first
        self.cfg = load_infer_cfg(model_dir)
        args = argparse.Namespace(cpu_threads=cpu_threads, enable_mkldnn=enable_mkldnn,
                                  precision=precision)
        self.backend = BACKENDS[backend](model_dir, args)
        self.precision = self.backend.precision  # what runs, read back from the backend
        self.ops = build_preprocess(self.cfg["Preprocess"])
        self.labels = [str(x) for x in self.cfg["label_list"]]
        self.threshold = float(self.cfg.get("draw_threshold", DEFAULT_THRESHOLD)
                               if threshold is None else threshold)

    def preprocess(self, path):
        image = decode_rgb(path)
        sample = {"image": image, "im_shape": np.array(image.shape[:2], np.float32),
                  "scale_factor": np.array([1.0, 1.0], np.float32)}
        for op in self.ops:
            sample = op(sample)
        return image, {"image": sample["image"][None].astype(np.float32),
                       "im_shape": np.asarray(sample["im_shape"], np.float32)[None],
                       "scale_factor": np.asarray(sample["scale_factor"], np.float32)[None]}

    def raw(self, path):
        """(decoded RGB image, boxes [N, 6] of the model: class, score, x1, y1, x2, y2),
        clipped to the image (an export without the clipping of ppcls_ext.det reaches past
        the border)."""
        image, feed = self.preprocess(path)
        boxes, counts = self.backend(feed)
        boxes = np.asarray(boxes)[:int(np.asarray(counts).reshape(-1)[0])]
        return image, clip_boxes(boxes, image.shape[0], image.shape[1])

    def detections(self, boxes):
        keep = boxes[:, 1] >= self.threshold
        return [{"class_id": int(c), "label": self._label(int(c)), "score": round(float(s), 5),
                 "bbox": [round(float(v), 2) for v in (x1, y1, x2, y2)]}
                for c, s, x1, y1, x2, y2 in boxes[keep]]

    def _label(self, class_id):
        return self.labels[class_id] if 0 <= class_id < len(self.labels) else str(class_id)

    def draw(self, image, detections, save_path):
        drawn = draw_boxes(image, detections)
        tmp = save_path + ".tmp" + os.path.splitext(save_path)[1]
        drawn.save(tmp)
        os.replace(tmp, save_path)

    def predict(self, paths, output_dir=None, root=None):
        """Detect objects in each image file of ``paths``.

        Returns:
            ``(results, unreadable)``: per readable image ``{"file_name", "boxes": [{"class_id",
            "label", "score", "bbox": [x1, y1, x2, y2]}]}`` (pixels of the original image,
            score >= ``threshold``), and ``{"file_name", "error"}`` per image that could not be
            read or decoded. With ``output_dir``, each image is also saved there with its boxes
            drawn (written atomically), under its path relative to ``root`` (a listed folder)
            or else its file name.
        """
        results, bad = [], []
        for path in paths:
            try:
                image, boxes = self.raw(path)
            except (OSError, ValueError) as exc:
                bad.append({"file_name": path, "error": str(exc)})
                continue
            dets = self.detections(boxes)
            results.append({"file_name": path, "boxes": dets})
            if output_dir:
                name = os.path.relpath(path, root) if root else os.path.basename(path)
                save_path = os.path.join(output_dir, name)
                os.makedirs(os.path.dirname(save_path), exist_ok=True)
                self.draw(image, dets, save_path)
        return results, bad

    def benchmark(self, path, warmup=5, repeats=30):
        """Latency of the backend alone (preprocessing excluded) on one image: ``{"p50_ms",
        "p90_ms"}`` in milliseconds over ``repeats`` runs after ``warmup`` runs."""
        _, feed = self.preprocess(path)
        for _ in range(warmup):
            self.backend(feed)
        times = []
        for _ in range(repeats):
            tic = time.perf_counter()
            self.backend(feed)
            times.append((time.perf_counter() - tic) * 1000)
        return dict(zip(("p50_ms", "p90_ms"), np.percentile(times, [50, 90])))


def list_images(image_file, image_dir):
    """``--image_file`` or the images of ``--image_dir`` (``ppcls_infer.sources``: recursive,
    any-case extensions, non-images counted; a .txt list of paths works too)."""
    if image_file:
        if not os.path.isfile(image_file):
            raise MissingPathError(f"--image_file {image_file!r} does not exist")
        return [image_file]
    if not image_dir:
        raise MissingPathError("give --image_file or --image_dir")
    listing = _list_images(image_dir, what="--image_dir")
    if listing.ignored:
        print(f"{len(listing.ignored)} file(s) that are not images left out: "
              + ", ".join(os.path.basename(p) for p in listing.ignored[:5])
              + (", ..." if len(listing.ignored) > 5 else ""), file=sys.stderr)
    return listing.images


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True, help="tools/det/export_model.py output")
    parser.add_argument("--image_file", default=None)
    parser.add_argument("--image_dir", default=None)
    parser.add_argument("--backend", default="paddle", choices=sorted(BACKENDS))
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="bf16: Paddle Inference (oneDNN) or OpenVINO, on a CPU with "
                        "AVX512-BF16 or AMX")
    parser.add_argument("--threshold", type=float, default=None,
                        help="lowest score kept (default: the export's draw_threshold, 0.5 "
                        "for NMS-ed detectors, 0.25 for YOLOv10)")
    parser.add_argument("--output_dir", default="output/det_predict")
    parser.add_argument("--cpu_threads", type=int, default=2)
    parser.add_argument("--enable_mkldnn", type=lambda s: s.lower() in ("1", "true", "yes"),
                        default=True, help="oneDNN on the CPU (needs an export made by "
                        "tools/det/export_model.py, whose upsampling oneDNN accepts)")
    parser.add_argument("--run_benchmark", action="store_true")
    args = parser.parse_args(argv)
    try:
        paths = list_images(args.image_file, args.image_dir)
        predictor = DetPredictor(args.model_dir, args.backend, args.threshold,
                                 args.cpu_threads, args.enable_mkldnn, args.precision)
        os.makedirs(args.output_dir, exist_ok=True)
        root = args.image_dir if not args.image_file and os.path.isdir(args.image_dir) else None
        results, bad = predictor.predict(paths, args.output_dir, root)
    except USER_ERRORS as exc:
        return report(exc)
    for item in bad:
        print(f"skipped unreadable image: {item['error']}", file=sys.stderr)
    for r in results:
        found = ", ".join(f"{d['label']} {d['score']:.2f}" for d in r["boxes"]) or "nothing"
        print(f"{r['file_name']}: {found}")
    out = os.path.join(args.output_dir, "det_results.json")
    with open(out + ".tmp", "w") as f:
        json.dump({"backend": args.backend, "precision": predictor.precision,
                   "threshold": predictor.threshold, "results": results,
                   "unreadable": bad}, f, indent=1)
    os.replace(out + ".tmp", out)
    print(f"boxes: {out}; drawn images: {args.output_dir}")
    if args.run_benchmark and results:
        r = predictor.benchmark(results[0]["file_name"])
        print(f"[benchmark] backend={args.backend} precision={predictor.precision} batch=1 "
              f"p50={r['p50_ms']:.2f}ms "
              f"p90={r['p90_ms']:.2f}ms")
    if not results:
        print("error: no image could be read", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
