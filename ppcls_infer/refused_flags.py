"""Command-line flags of PaddleClas's and PaddleDetection's tools that this project's tools do
not implement, each refused with its reason instead of argparse's bare "unrecognized arguments".

The lists follow the tools' own parsers: PaddleClas ``ppcls/utils/config.py:parse_args``
(``-p/--profiler_options``), PaddleDetection 2.6.0 / develop ``tools/train.py``,
``tools/eval.py``, ``tools/infer.py``, ``tools/export_model.py`` and ``deploy/python/utils.py``
(the flags of its ``deploy/python/infer.py``, for ``deploy/python/predict_det.py``). Paddle-free:
the deploy predictors use it too. A flag that PaddleDetection
declares as a switch and one that takes a value are both parsed (``nargs="?"``), so the error
names the flag whichever way it was written.
"""
import argparse

_SLIM = ("PaddleSlim compression of detectors (QAT, pruning, distillation) is not wired into "
         "these tools; int8 here is for the classifiers (tools/quant_post.py, configs/slim/)")
_SLICE = ("sliced (SAHI) inference for small objects in large images is not wired into these "
          "tools")
_DEVELOP = "a PaddleDetection develop-branch flag that these tools (following 2.6.0) lack"

DETECTION = {
    "train": {
        "--slim_config": _SLIM,
        "--fleet": ("data-parallel training is started with python -m paddle.distributed.launch "
                    "(the tools use PaddleDetection's DataParallel path, not fleet)"),
        "--use_wandb": "Weights & Biases logging is not wired: use --use_vdl (VisualDL)",
        "--profiler_options": "PaddleDetection's benchmark profiler hook is not wired",
        "--save_proposals": "proposals belong to two-stage detectors; PP-YOLOE and YOLOv10 are "
                            "one-stage",
        "--proposals_path": "proposals belong to two-stage detectors; PP-YOLOE and YOLOv10 are "
                            "one-stage",
        "--to_static": ("dynamic-to-static training of the detectors is not supported on "
                        "Paddle 3 here; the export (tools/det/export_model.py) converts to a "
                        "static program"),
    },
    "eval": {
        "--slim_config": _SLIM,
        **{flag: _SLICE for flag in ("--slice_infer", "--slice_size", "--overlap_ratio",
                                     "--combine_method", "--match_threshold", "--match_metric")},
    },
    "infer": {
        "--slim_config": _SLIM,
        **{flag: _SLICE for flag in ("--slice_infer", "--slice_size", "--overlap_ratio",
                                     "--combine_method", "--match_threshold", "--match_metric")},
        "--use_vdl": "drawn images go to --output_dir; VisualDL image logging is not wired",
        "--vdl_log_dir": "drawn images go to --output_dir; VisualDL image logging is not wired",
        "--infer_list": _DEVELOP + ": give --infer_dir a folder or --infer_img one image",
        "--save_threshold": _DEVELOP + ": --draw_threshold selects the boxes drawn and saved",
        "--do_eval": _DEVELOP + ": evaluate with tools/det/eval.py",
        "--rtn_im_file": _DEVELOP,
    },
    "export": {
        "--slim_config": _SLIM,
        "--export_serving_model": ("Paddle Serving models are not exported: deploy the Paddle "
                                   "Inference / ONNX export with deploy/python/predict_det.py"),
        "--for_fd": _DEVELOP + " (FastDeploy layout)",
    },
}

_TRT = ("TensorRT is not wired into the detection predictor (Paddle Inference runs it on the "
        "GPU with --device GPU, without TensorRT)")
_NOT_DETECTION = ("tracking, keypoint and action recognition belong to PaddleDetection's "
                  "pipelines, not to this detector predictor")

DEPLOY_DETECTION = {
    "--video_file": "the predictor reads images: --image_file or --image_dir (video frames "
                    "extracted to a folder work)",
    "--camera_id": "the predictor reads images: --image_file or --image_dir",
    **{flag: _TRT for flag in ("--trt_min_shape", "--trt_max_shape", "--trt_opt_shape",
                               "--trt_calib_mode")},
    **{flag: _NOT_DETECTION for flag in (
        "--tracker_config", "--reid_model_dir", "--reid_batch_size", "--action_file",
        "--window_size", "--random_pad", "--save_mot_txts", "--save_mot_txt_per_img",
        "--scaled", "--use_dark", "--use_coco_category")},
    **{flag: _SLICE for flag in ("--slice_infer", "--slice_size", "--overlap_ratio",
                                 "--combine_method", "--match_threshold", "--match_metric")},
}

CLASSIFICATION = {
    "-p/--profiler_options": ("Paddle's profiler hook of PaddleClas's benchmark mode is not "
                              "implemented in this engine (train/eval/infer pass it to "
                              "PaddleClas's own engine when PADDLECLAS_ROOT is set)"),
}


class _Refuse(argparse.Action):
    def __init__(self, option_strings, dest, reason, **kwargs):
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)
        self.reason = reason

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is not supported: {self.reason}")


def add_refused(parser, flags):
    """Declare each of ``flags`` ({"--a/-b" or "--a": reason}) on ``parser`` so that using it
    exits 2 with one line ``<prog>: error: --a is not supported: <reason>`` (after the usage
    line, as argparse errors do). Returns ``parser``."""
    for names, reason in flags.items():
        parser.add_argument(*names.split("/"), action=_Refuse, reason=reason,
                            dest=argparse.SUPPRESS, default=argparse.SUPPRESS)
    return parser
