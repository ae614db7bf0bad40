"""Inference backends for the classification predictor: Paddle Inference and ONNX Runtime.

The Paddle Inference setup mirrors the paddleclas wheel's ``deploy/utils/predictor.py``
(GPU / oneDNN / threads / IR optimisation / TensorRT) except for
``enable_memory_optim()``, which makes ``create_predictor`` fail for every PIR model on
Paddle 3.3.1 ("Not find predictor_id 0 and pass_name memory_optimize_pass").
"""
import os

import numpy as np

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
        config = inference.Config(model_file, params_file)
        if g.get("use_gpu", False):
            import paddle

            if not paddle.device.is_compiled_with_cuda():
                raise BackendError("Global.use_gpu is True but this Paddle has no CUDA; set "
                                   "-o Global.use_gpu=False")
            config.enable_use_gpu(int(g.get("gpu_mem", 8000)), int(g.get("gpu_id", 0)))
            if g.get("use_tensorrt", False):
                self._enable_tensorrt(config, g, model_dir)
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

    @staticmethod
    def _enable_tensorrt(config, g, model_dir):
        """TensorRT with dynamic batch/shape ranges and a serialized engine cache."""
        from paddle.inference import PrecisionType

        precision = PrecisionType.Half if g.get("use_fp16", False) else PrecisionType.Float32
        shape = list(g.get("trt_input_shape", [3, 224, 224]))
        max_batch = int(g.get("trt_max_batch_size", max(int(g.get("batch_size", 1)), 1)))
        config.enable_tensorrt_engine(workspace_size=1 << 30, max_batch_size=max_batch,
                                      min_subgraph_size=int(g.get("min_subgraph_size", 3)),
                                      precision_mode=precision, use_static=True,
                                      use_calib_mode=False)
        config.set_trt_dynamic_shape_info({"x": [1] + shape}, {"x": [max_batch] + shape},
                                          {"x": [max(1, max_batch // 2)] + shape})
        config.set_optim_cache_dir(g.get("trt_cache_dir", os.path.join(model_dir, "trt_cache")))

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
    return BACKENDS[name](model_dir, g)
