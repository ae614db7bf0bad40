r"""Detect objects with an exported PaddleDetection model: Paddle Inference, ONNX Runtime or
OpenVINO.

    python deploy/python/predict_det.py --model_dir inference/ppyoloe_s_econvnext_mini_digits \
        --image_file dataset/digits_det/images/val/00000.png [--image_dir DIR] \
        [--backend paddle|onnxruntime|openvino] [--precision fp32|bf16] [--threshold T] \
        [--output_dir output/det_predict]

The model folder is what tools/det/export_model.py writes (PaddleDetection's export format):
``model.json`` (or ``model.pdmodel``) + ``model.pdiparams``, inputs ``image`` and
``scale_factor``, outputs the boxes ``[N, 6]`` (class, score, x1, y1, x2, y2, NMS inside the
model) and the box count per image, and ``infer_cfg.yml`` with the preprocessing and the
label list. The flags are those of PaddleDetection's deploy/python/infer.py (``--model_dir``,
``--image_file``/``--image_dir``, ``--threshold``, ``--output_dir``, ``--cpu_threads``,
``--enable_mkldnn``, ``--run_benchmark``, ``--device``, ``--enable_mkldnn_bfloat16``,
``--save_images``; the ones it does not implement, such as TensorRT or video input, are
refused with their reason); ``--backend onnxruntime`` and ``--backend
openvino`` run the export's ONNX file (``model.onnx``, or ``inference.onnx``), converted from the Paddle model with paddle2onnx on first use
when it is missing (``ppcls_infer.onnx_export``, the converter of tools/export_model.py).
``--threshold`` defaults to the export's ``draw_threshold`` (0.5 for PaddleDetection's NMS-ed
detectors, 0.25 for the NMS-free YOLOv10). The backends are the classification predictor's
(deploy/python/backends.py): ``--precision bf16`` (Paddle Inference with oneDNN, OpenVINO)
runs bf16 on a CPU with AVX512-BF16 or AMX and fp32 with a warning elsewhere (the JSON's
``precision`` says what ran); OpenVINO is told fp32 explicitly otherwise, since it would pick
bf16 by itself on such CPUs.
Writes ``<output_dir>/det_results.json`` (every box above ``--threshold``, in input pixels)
and each image with its boxes drawn to ``<output_dir>/<image name>``.

Images are decoded as in classification (``ppcls_infer.decode``, PIL: a truncated file is
reported, not half-read); preprocessing is ``ppcls_infer.det_preprocess`` (numpy + OpenCV,
computing what PaddleDetection's operators compute). With ``--backend onnxruntime`` or
``openvino`` and an existing ``model.onnx`` nothing here imports Paddle or ppdet; the training
package (``ppcls_ext``) is never imported. Errors follow ``ppcls_infer.cli`` (one ``error:``
line, ``PPCLS_DEBUG=1`` for the traceback).
"""
import argparse
import logging
import os
import sys

import numpy as np

from backends import BACKENDS, PRECISIONS, create_backend
from ppcls_infer import bounded_yaml
from ppcls_infer.atomic import atomic_write, write_json
from ppcls_infer.cli import USER_ERRORS, InvalidValueError, MissingPathError, report, run
from ppcls_infer.decode import decode_image
from ppcls_infer.det_preprocess import build_det_preprocess, preprocess_image
from ppcls_infer.postprocess import clip_boxes
from ppcls_infer.refused_flags import DEPLOY_DETECTION, add_refused
from ppcls_infer.sources import list_images as _list_images
from ppcls_infer.timing import measure_latency

FEED_NAMES = ("image", "im_shape", "scale_factor")  # what preprocess_image gives an export
DEFAULT_THRESHOLD = 0.5  # when infer_cfg.yml has no draw_threshold (PaddleDetection's value)
# the backends' settings (deploy/python/backends.py, Global.<key>) as this tool's flags
OPTIONS = {"backend": "--backend", "precision": "--precision", "enable_mkldnn": "--enable_mkldnn",
           "cpu_num_threads": "--cpu_threads", "inference_model_dir": "--model_dir",
           "use_gpu": "--device GPU (or --use_gpu True)"}


def option_name(key):
    return OPTIONS.get(key, f"Global.{key}")


def load_infer_cfg(model_dir):
    path = os.path.join(model_dir, "infer_cfg.yml")
    if not os.path.isfile(path):
        raise MissingPathError(f"PaddleDetection infer_cfg.yml {path!r} not found; export the "
                               "model with tools/det/export_model.py -c CONFIG -o "
                               "weights=CHECKPOINT")
    with open(path) as f:
        cfg = bounded_yaml.safe_load(f) or {}
    if not isinstance(cfg.get("Preprocess"), list) or not cfg.get("label_list"):
        raise InvalidValueError(f"{path} has no Preprocess list or label_list; re-export the model "
                                "with tools/det/export_model.py")
    return cfg


def decode_rgb(path):
    """An image file -> HxWx3 uint8 RGB (``ppcls_infer.decode``, PIL), or a one-line error."""
    with open(path, "rb") as f:
        data = f.read()
    return decode_image(data, path)  # CorruptImageError names the file and the cause


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


class DetPredictor:
    """Detect objects with a ``tools/det/export_model.py`` export (PP-YOLOE with NMS inside,
    YOLOv10 NMS-free), without the training package: preprocessing from the export's
    ``infer_cfg.yml`` (``ppcls_infer.det_preprocess``), decoding ``ppcls_infer``'s (PIL), the
    backends of the classification predictor (``backends.create_backend``).

    Args:
        model_dir: the export folder (``model.json``/``.pdiparams`` and ``infer_cfg.yml``;
            ``model.onnx`` for the ONNX backends, converted on first use when missing).
        backend: ``"paddle"`` (Paddle Inference), ``"onnxruntime"`` or ``"openvino"``.
        threshold: lowest score a detection keeps (probability in [0, 1]); None: the export's
            ``draw_threshold`` (0.5 for PaddleDetection's detectors, 0.25 for YOLOv10).
        cpu_threads, enable_mkldnn: CPU threads (every backend) and oneDNN (Paddle Inference).
        precision: ``"fp32"`` or ``"bf16"`` (Paddle Inference with oneDNN, OpenVINO; fp32 with
            a warning where the CPU or oneDNN cannot run bf16: ``self.precision`` says what
            runs).

    Raises:
        ValueError: an unknown backend or precision, bf16 on onnxruntime, an infer_cfg.yml
            preprocessing operator this predictor does not implement.
        FileNotFoundError: the folder, a model file or ``infer_cfg.yml`` is missing.
        backends.BackendError: the runtime is not installed.
    """

    def __init__(self, model_dir, backend="paddle", threshold=None, cpu_threads=2,
                 enable_mkldnn=True, precision="fp32", use_gpu=False):
        if not model_dir or not os.path.isdir(model_dir):
            raise MissingPathError(f"--model_dir {model_dir!r} is not a directory; export a "
                                   "model first (tools/det/export_model.py)")
        self.cfg = load_infer_cfg(model_dir)
        self.ops = build_det_preprocess(self.cfg["Preprocess"],
                                        where=os.path.join(model_dir, "infer_cfg.yml") +
                                        " Preprocess")
        g = {"backend": backend, "precision": precision, "cpu_num_threads": int(cpu_threads),
             "enable_mkldnn": bool(enable_mkldnn), "use_gpu": bool(use_gpu)}
        self.backend = create_backend(model_dir, g, option_name)
        if not set(self.backend.input_names) <= set(FEED_NAMES):
            raise InvalidValueError(
                f"{model_dir} takes inputs {list(self.backend.input_names)}; this "
                f"predictor feeds {', '.join(FEED_NAMES)} (a PaddleDetection "
                "export: tools/det/export_model.py)")
        self.precision = self.backend.precision  # what runs, read back from the backend
        self.labels = [str(x) for x in self.cfg["label_list"]]
        self.threshold = float(self.cfg.get("draw_threshold", DEFAULT_THRESHOLD)
                               if threshold is None else threshold)

    def preprocess(self, path):
        """(decoded HxWx3 uint8 RGB image, feed ``{"image" [1, 3, H, W], "im_shape" [1, 2],
        "scale_factor" [1, 2]}`` float32)."""
        image = decode_rgb(path)
        return image, preprocess_image(self.ops, image)

    def raw(self, path):
        """(decoded RGB image, boxes [N, 6] of the model: class, score, x1, y1, x2, y2),
        clipped to the image (an export without the clipping of ppcls_ext.det reaches past
        the border)."""
        image, feed = self.preprocess(path)
        return image, self.boxes(image, feed)

    def boxes(self, image, feed):
        """The model's boxes for one preprocessed image, cut to its box count and clipped."""
        boxes, counts = self.backend.run(feed)[:2]
        boxes = np.asarray(boxes)[:int(np.asarray(counts).reshape(-1)[0])]
        return clip_boxes(boxes, image.shape[0], image.shape[1])

    def detections(self, boxes):
        keep = boxes[:, 1] >= self.threshold
        return [{"class_id": int(c), "label": self._label(int(c)), "score": round(float(s), 5),
                 "bbox": [round(float(v), 2) for v in (x1, y1, x2, y2)]}
                for c, s, x1, y1, x2, y2 in boxes[keep]]

    def _label(self, class_id):
        return self.labels[class_id] if 0 <= class_id < len(self.labels) else str(class_id)

    def draw(self, image, detections, save_path):
        """``image`` with its boxes written to ``save_path`` atomically (format from the
        extension)."""
        drawn = draw_boxes(image, detections)
        atomic_write(save_path, writer=drawn.save)

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
            try:  # an unreadable image is skipped; a model error is not the image's fault
                image, feed = self.preprocess(path)
            except (OSError, ValueError) as exc:
                bad.append({"file_name": path, "error": str(exc)})
                continue
            boxes = self.boxes(image, feed)
            dets = self.detections(boxes)
            results.append({"file_name": path, "boxes": dets})
            if output_dir:
                name = os.path.relpath(path, root) if root else os.path.basename(path)
                save_path = os.path.join(output_dir, name)
                os.makedirs(os.path.dirname(save_path), exist_ok=True)
                self.draw(image, dets, save_path)
        return results, bad

    def benchmark(self, path, warmup=5, repeats=30):
        """Latency of the backend alone (preprocessing excluded) on one image, batch 1:
        ``ppcls_infer.timing.measure_latency``'s ``{"runs", "mean_ms", "min_ms", "p50_ms",
        "p90_ms", "p99_ms"}`` in milliseconds over ``repeats`` runs after ``warmup`` runs."""
        _, feed = self.preprocess(path)
        return measure_latency(lambda: self.backend.run(feed), warmup, repeats)


def _flag(text):
    """PaddleDetection's boolean flags: ``True``/``False`` (any case), also 1/0, yes/no."""
    value = str(text).strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


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
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
        epilog="Flags, backends, precision and outputs: docs/detection.md (Deployment).",
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
    parser.add_argument("--enable_mkldnn", type=_flag, default=True,
                        help="oneDNN on the CPU (needs an export made by "
                        "tools/det/export_model.py, whose upsampling oneDNN accepts)")
    parser.add_argument("--run_benchmark", type=_flag, nargs="?", const=True, default=False,
                        help="time the backend on the first image (PaddleDetection's flag)")
    # PaddleDetection's deploy/python/infer.py flags: honoured, or refused with a reason
    parser.add_argument("--device", default="CPU", type=str.upper, choices=["CPU", "GPU"],
                        help="GPU: Paddle Inference or ONNX Runtime on CUDA (a GPU build)")
    parser.add_argument("--use_gpu", type=_flag, default=False,
                        help="deprecated in PaddleDetection: same as --device GPU")
    parser.add_argument("--run_mode", default="paddle",
                        help="paddle (PaddleDetection's trt_fp32/trt_fp16/trt_int8 are refused)")
    parser.add_argument("--batch_size", type=int, default=1,
                        help="1: images are predicted one at a time")
    parser.add_argument("--enable_mkldnn_bfloat16", type=_flag, default=False,
                        help="same as --precision bf16")
    parser.add_argument("--save_images", type=_flag, default=True,
                        help="draw the boxes into --output_dir (false: det_results.json only)")
    parser.add_argument("--save_results", type=_flag, default=True,
                        help="accepted for PaddleDetection's command lines: the boxes are "
                        "always written, to <output_dir>/det_results.json")
    add_refused(parser, DEPLOY_DETECTION)
    args = parser.parse_args(argv)
    if args.run_mode != "paddle":
        parser.error(f"--run_mode {args.run_mode} is not supported: only paddle; TensorRT "
                     "(trt_fp32/trt_fp16/trt_int8) is not wired into the detection predictor")
    if args.batch_size != 1:
        parser.error(f"--batch_size {args.batch_size} is not supported: images are predicted "
                     "one at a time (give --batch_size 1 or leave it out)")
    if args.enable_mkldnn_bfloat16:
        args.precision = "bf16"
    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(levelname)s %(message)s")
    try:
        paths = list_images(args.image_file, args.image_dir)
        predictor = DetPredictor(args.model_dir, args.backend, args.threshold,
                                 args.cpu_threads, args.enable_mkldnn, args.precision,
                                 use_gpu=args.device == "GPU" or args.use_gpu)
        os.makedirs(args.output_dir, exist_ok=True)
        root = args.image_dir if not args.image_file and os.path.isdir(args.image_dir) else None
        results, bad = predictor.predict(paths, args.output_dir if args.save_images else None,
                                         root)
    except USER_ERRORS as exc:
        return report(exc)
    for item in bad:
        print(f"skipped unreadable image: {item['error']}", file=sys.stderr)
    for r in results:
        found = ", ".join(f"{d['label']} {d['score']:.2f}" for d in r["boxes"]) or "nothing"
        print(f"{r['file_name']}: {found}")
    out = write_json(os.path.join(args.output_dir, "det_results.json"),
                     {"backend": args.backend, "precision": predictor.precision,
                      "threshold": predictor.threshold, "results": results,
                      "unreadable": bad})
    if results:
        print(f"boxes: {out}" + (f"; drawn images: {args.output_dir}" if args.save_images
                                 else ""))
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
    sys.exit(run(main))
