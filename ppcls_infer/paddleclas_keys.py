"""The keys of PaddleClas's classification predictor and what deploy/python/predict_cls.py
does with them.

Made from PaddleClas's ``deploy/python/predict_cls.py``, ``deploy/utils/predictor.py``,
``deploy/utils/config.py`` and ``deploy/configs/inference_cls*.yaml`` (v2.5.2 and develop)
and the keys TIPC's ``test_train_inference_python.sh`` passes. Pure data: no imports.
"""

# Global keys read with PaddleClas's meaning
HONOURED = (
    "infer_imgs", "inference_model_dir", "batch_size", "use_gpu", "gpu_mem", "enable_mkldnn",
    "cpu_num_threads", "use_tensorrt", "use_fp16", "ir_optim", "enable_profile",
    "enable_benchmark", "benchmark", "save_log_path", "model_name", "use_onnx",
)

NOTES = {
    "enable_benchmark": "this project's latency benchmark on random input (the key is in "
                        "PaddleClas's deploy configs, which its predictor does not read)",
    "benchmark": "as PaddleClas (its AutoLog): the run's own milliseconds per image for "
                 "preprocess, inference and postprocess (enable_benchmark, this project's "
                 "key, runs latency percentiles on random input instead)",
    "save_log_path": "the benchmark report is also written to this file (PaddleClas's "
                     "AutoLog report path; null: not written)",
    "model_name": "the model name in the benchmark report",
    "use_onnx": "True: Global.backend onnxruntime (inference.onnx in the model folder)",
    "use_fp16": "half precision under TensorRT; refused without use_tensorrt",
    "enable_profile": "Paddle Inference's profiler",
}

# Global keys refused, with the reason given
REFUSED = {
    "use_int8": "TensorRT int8 calibration is not implemented; an int8 model comes from "
                "tools/quant_post.py or QAT and is run as exported",
    "use_xpu": "Paddle Inference on Kunlun XPU is not implemented by this predictor",
    "use_npu": "Paddle Inference on NPU is not implemented by this predictor",
    "use_mlu": "Paddle Inference on MLU is not implemented by this predictor",
}

# PostProcess entries not run (predict_cls runs Topk only): named in a warning, since
# PaddleClas's own inference_cls.yaml lists SavePreLabel
POSTPROCESS_WARNED = {
    "SavePreLabel": "copying images into one folder per predicted class is not implemented; "
                    "Global.save_results writes the predictions as JSON",
}

# This project's own Global keys (docs/deployment.md)
EXTENSIONS = ("backend", "precision", "trt_max_batch_size", "trt_cache_dir",
              "ort_blocked_elementwise", "save_results", "gpu_id")
