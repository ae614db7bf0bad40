"""Inference backends for the classification predictor: Paddle Inference and ONNX Runtime.

The Paddle Inference setup mirrors the paddleclas wheel's ``deploy/utils/predictor.py``
(GPU / oneDNN / threads / IR optimisation) except for
``enable_memory_optim()``, which makes ``create_predictor`` fail for every PIR model on
Paddle 3.3.1 ("Not find predictor_id 0 and pass_name memory_optimize_pass"), and TensorRT,
which for PIR models goes through ``paddle.tensorrt`` (trt_pir.py).
"""
import os

import numpy as np

import trt_pir
from ort_layout import create_session


class BackendError(RuntimeError):
    pass


def _require(path, what):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} not found; export the model with "
                                "tools/export_model.py (add --onnx for ONNX Runtime)")


class PaddleInferenceBackend:
    def __init__(self, model_dir, g):
        from paddle import inference

        model_file = os.path.join(model_dir, "inference.json")
        params_file = os.path.join(model_dir, "inference.pdiparams")
        _require(model_file, "Paddle inference model")
        _require(params_file, "Paddle inference parameters")
        if g.get("use_gpu", False) and g.get("use_tensorrt", False):
            model_file, params_file = trt_pir.converted_model(model_dir, g)
        config = inference.Config(model_file, params_file)
        if g.get("use_gpu", False):
            import paddle

            if not paddle.device.is_compiled_with_cuda():
                raise BackendError("Global.use_gpu is True but this Paddle has no CUDA; set "
                                   "-o Global.use_gpu=False")
            config.enable_use_gpu(int(g.get("gpu_mem", 8000)), int(g.get("gpu_id", 0)))
        else:
            config.disable_gpu()
            if g.get("enable_mkldnn", True):
                config.set_mkldnn_cache_capacity(10)  # bounded cache of input shapes
                config.enable_mkldnn()
            else:
                config.disable_mkldnn()
            config.set_cpu_math_library_num_threads(int(g.get("cpu_num_threads", 2)))
        if g.get("enable_profile", False):
            config.enable_profile()
        config.disable_glog_info()
        config.switch_ir_optim(bool(g.get("ir_optim", True)))
        self.predictor = inference.create_predictor(config)
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])
        self.input_shape = None  # PIR handles do not report it: inference.yml does

    def __call__(self, batch):
        self.input.reshape(batch.shape)
        self.input.copy_from_cpu(np.ascontiguousarray(batch, dtype=np.float32))
        self.predictor.run()
        return self.output.copy_to_cpu()


class OnnxRuntimeBackend:
    def __init__(self, model_dir, g):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError("Global.backend is onnxruntime but onnxruntime is not "
                               "installed (pip install -r requirements.txt)") from exc
        path = os.path.join(model_dir, "inference.onnx")
        _require(path, "ONNX model")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(g.get("cpu_num_threads", 2))
        options.log_severity_level = 3  # paddle2onnx leaves unused initializers: no warnings
        options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                                            if g.get("ir_optim", True)
                                            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        providers = ["CPUExecutionProvider"]
        if g.get("use_gpu", False):
            providers.insert(0, "CUDAExecutionProvider")
        self.session = create_session(path, options, providers,
                                      blocked=bool(g.get("ort_blocked_elementwise", True)))
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = [d if isinstance(d, int) and d > 0 else None
                            for d in self.session.get_inputs()[0].shape]

    def __call__(self, batch):
        return self.session.run(None, {self.input_name: batch.astype(np.float32)})[0]


BACKENDS = {"paddle": PaddleInferenceBackend, "onnxruntime": OnnxRuntimeBackend}


def check_input(batch, expected):
    """A clear error when preprocessing does not produce what the model was exported for."""
    got = list(batch.shape)
    if len(got) != len(expected) or any(e is not None and e != d for e, d in zip(expected, got)):
        want = "x".join("N" if e is None else str(e) for e in expected)
        raise ValueError(f"the model was exported for input {want} but preprocessing produced "
                         f"{'x'.join(map(str, got))}: make PreProcess resize/crop to the "
                         "exported size, or re-export with Global.image_shape set to it")


def create_backend(model_dir, g):
    if not model_dir or not os.path.isdir(model_dir):
        raise FileNotFoundError(f"Global.inference_model_dir {model_dir!r} is not a directory; "
                                "export a model first (tools/export_model.py)")
    name = str(g.get("backend", "paddle")).lower()
    if name not in BACKENDS:
        raise ValueError(f"Global.backend {name!r}; valid: {', '.join(BACKENDS)}")
    trt_pir.check_precision(g)
    return BACKENDS[name](model_dir, g)
