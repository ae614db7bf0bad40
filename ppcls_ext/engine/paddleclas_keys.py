"""Every config key PaddleClas's engine and tools read, and what this engine does with it.

The list was made from PaddleClas's sources, the 2.5 release (v2.5.2) and the develop
branch: ``ppcls/engine/`` (engine, train and evaluation loops, ``train/utils.py``),
``tools/`` (train, eval, infer, export_model), ``ppcls/utils/config.py`` and
``ppcls/arch/__init__.py`` (``build_model``, ``apply_to_static``), and the keys TIPC's
``test_train_inference_python.sh`` adds on its command lines. The deploy-side keys
(``deploy/python/predict_cls.py``, ``deploy/utils/predictor.py``) are listed in
``ppcls_infer.paddleclas_keys``.

Each key is either ``HONOURED`` (the engine reads it with PaddleClas's meaning) or in
``REFUSED`` with the one-line reason the config check gives. Pure data: no imports.
"""

# section -> keys this engine reads with PaddleClas's meaning
HONOURED = {
    "Global": (
        "checkpoints", "pretrained_model", "output_dir", "device", "save_interval",
        "eval_during_train", "eval_interval", "start_eval_epoch", "epochs", "print_batch_step",
        "use_visualdl", "image_shape", "save_inference_dir", "seed", "update_freq",
        "to_static", "class_num", "eval_mode", "use_dali", "print_mem_info", "log_ranks",
        "export_for_fd", "pdx_model_name",
    ),
    "AMP": ("use_amp", "scale_loss", "use_dynamic_loss_scaling", "level", "use_promote",
            "use_fp16_test"),
    "EMA": ("decay",),
    "Arch": ("name", "class_num", "use_sync_bn", "infer_add_softmax"),
    "Infer": ("infer_imgs", "batch_size", "transforms", "PostProcess"),
    "DataLoader": ("Train", "Eval"),
    "Loss": ("Train", "Eval"),
    "Metric": ("Train", "Eval"),
}

# Notes on honoured keys whose behaviour differs in a detail from PaddleClas's engine.
NOTES = {
    ("Global", "device"): "cpu, gpu, xpu, npu, mlu (PaddleClas also lists ascend, intel_gpu, "
                          "mps: refused with the valid names)",
    ("Global", "pretrained_model"): "a prefix, a weights file, a folder holding one "
                                    "checkpoint, or a URL; a prefix means its model weights "
                                    "(Global.use_ema_weights: its EMA weights), the same for "
                                    "every tool",
    ("Global", "eval_mode"): "classification only; retrieval and adaface are refused",
    ("Global", "use_dali"): "False only; True is refused (DALI loaders are not implemented)",
    ("Global", "print_mem_info"): "GPU: max_mem_reserved/max_mem_allocated as PaddleClas; "
                                  "CPU: the process's peak RSS (max_mem_rss)",
    ("Global", "log_ranks"): "ranks whose INFO lines are logged: 0,1 or [0, 1]",
    ("Global", "export_for_fd"): "inference.yml is always written by the export",
    ("Global", "pdx_model_name"): "written as inference.yml's Global.model_name (PaddleX)",
    ("Global", "class_num"): "deprecated in PaddleClas too: stands in for a missing "
                             "Arch.class_num; a different number from Arch.class_num is "
                             "refused (PaddleClas ignores it)",
    ("Arch", "use_sync_bn"): "GPU only, as in PaddleClas",
    ("Arch", "infer_add_softmax"): "softmax at the end of the export (default True)",
}

_RETRIEVAL = ("retrieval evaluation is not implemented (Global.eval_mode: classification "
              "only); run PaddleClas's own engine with PADDLECLAS_ROOT for it")
_SEMI = ("semi-supervised and meta-learning loops (FixMatch, CCSSL, MetaBIN) are not "
         "implemented; run PaddleClas's own engine with PADDLECLAS_ROOT for them")

# (section, key) -> why it is refused
REFUSED = {
    ("Global", "train_mode"): _SEMI,
    ("Global", "iter_per_epoch"): "a fixed number of iterations per epoch exists in "
                                  "PaddleClas for FixMatch/XBM-style training, not implemented "
                                  "here: an epoch is one pass over DataLoader.Train",
    ("Global", "warmup_iter"): _SEMI,
    ("Global", "use_multilabel"): "multi-label classification (sigmoid output, multi-label "
                                  "metrics) is not implemented",
    ("Global", "distributed"): "set by the engine from the launch's process count, not a "
                               "setting: start several processes with "
                               "python -m paddle.distributed.launch",
    ("Global", "uniform_output_enabled"): "PaddleX's training-output layout (an export at "
                                          "every save, train_results.json) is not "
                                          "implemented; export with tools/export_model.py",
    ("Global", "hpi_config_path"): "PaddleX high-performance-inference settings are not "
                                   "written into inference.yml",
    ("Global", "feature_normalize"): _RETRIEVAL,
    ("Global", "feature_binarize"): _RETRIEVAL,
    ("Global", "re_ranking"): _RETRIEVAL,
    ("Global", "retrieval_feature_from"): _RETRIEVAL,
    ("Global", "sim_block_size"): _RETRIEVAL,
    ("Arch", "use_ml_decoder"): "the ML-Decoder head (multi-label) is not implemented",
    ("Arch", "is_rec"): "recognition models (RecModel with Backbone/Neck/Head) are not "
                        "implemented",
    ("Arch", "infer_output_key"): "recognition-feature export is not implemented",
    ("Arch", "infer_model_name"): "distillation models are not implemented",
    ("DataLoader", "UnLabelTrain"): _SEMI,
    ("DataLoader", "Metalearning"): _SEMI,
    ("Infer", "infer_list"): "an image list file for tools/infer.py (develop only) is not "
                             "implemented: give Infer.infer_imgs a file or folder",
    ("Infer", "save_dir"): "saving predictions from tools/infer.py (develop only) is not "
                           "implemented: they are printed",
    (None, "UnLabelLoss"): _SEMI,
    (None, "MLDecoder"): "the ML-Decoder head (multi-label) is not implemented",
}

# This project's own keys, beyond PaddleClas's (documented in docs/training.md).
EXTENSIONS = {
    ("Global", "save_format"): "pdparams (PaddleClas's) or safetensors",
    ("Global", "infer_add_softmax"): "softmax appended at export (default True; "
                                     "Arch.infer_add_softmax, PaddleClas's key, wins)",
    ("Global", "use_ema_weights"): "False (default): a checkpoint prefix means its model "
                                   "weights (.pdparams), as PaddleClas; True: its EMA weights "
                                   "(.pdema), for eval, infer, export and quantization alike",
    (None, "Slim"): "QAT with PaddleSlim (ppcls_ext.slim)",
}


def refusal(section, key):
    """The reason ``section.key`` is refused, or None. ``section`` None: a top-level key."""
    return REFUSED.get((section, key))
