"""Inference backends for the classification predictor: Paddle Inference, ONNX Runtime, OpenVINO.

The Paddle Inference setup mirrors the paddleclas wheel's ``deploy/utils/predictor.py``
(GPU / oneDNN / threads / IR optimisation) except for
``enable_memory_optim()``, which makes ``create_predictor`` fail for every PIR model on
Paddle 3.3.1 ("Not find predictor_id 0 and pass_name memory_optimize_pass"), and TensorRT,
which for PIR models goes through ``paddle.tensorrt`` (trt_pir.py).

Only the Paddle backend imports Paddle (inside its constructor): with onnxruntime or openvino
this module needs numpy and the runtime alone (Paddle-free deployment, docs/deployment.md).
``Global.precision`` (fp32 | bf16) picks the float precision; every backend records the
precision that actually runs in ``self.precision`` (OpenVINO: read back from the compiled
model), and the predictor logs it.
"""
import logging
import os

import numpy as np

import trt_pir
from cpu_info import cpu_flags
from ort_layout import create_session
from ppcls_infer import bounded_yaml
from ppcls_infer.cli import InvalidValueError, MissingPathError, UserError

logger = logging.getLogger("deploy")
PRECISIONS = ("fp32", "bf16")
_warned_int8 = set()


class BackendError(UserError, RuntimeError):
    """A backend the config asks for is not installed or cannot run here (one error line)."""


def warn_int8_once(model_dir, backend, what):
    """An int8 export asked of a backend that does not run it faster: say so once per folder
    and backend, naming the backend that runs int8 (OpenVINO: docs/deployment.md)."""
    if (model_dir, backend) in _warned_int8 or not is_int8_model(model_dir):
        return
    _warned_int8.add((model_dir, backend))
    logger.warning("%s holds an int8 model; %s: use -o Global.backend=openvino to run it in "
                   "int8", model_dir, what)


def requested_precision(g, backend):
    precision = str(g.get("precision", "fp32")).lower()
    if precision not in PRECISIONS:
        raise InvalidValueError(f"Global.precision {precision!r}; valid: {', '.join(PRECISIONS)} "
                                "(an int8 model is chosen by its folder, not by this key)")
    if precision == "bf16" and backend == "onnxruntime":
        raise InvalidValueError("Global.precision bf16 is not offered by the onnxruntime backend; "
                                "use Global.backend=openvino (or paddle), or precision fp32")
    return precision


def is_int8_model(model_dir):
    """An int8 export says ``Global.quantized: int8`` in inference.yml (tools/quant_post.py and
    QAT export write it); a Paddle program with quantize ops counts too."""
    
    yml = os.path.join(model_dir, "inference.yml")
    if os.path.isfile(yml):
        with open(yml) as f:
            g = (bounded_yaml.safe_load(f) or {}).get("Global") or {}
        if str(g.get("quantized", "")).lower() == "int8":
            return True
    program = os.path.join(model_dir, "inference.json")
    if os.path.isfile(program):
        with open(program) as f:
            return "quantize_linear" in f.read()
    return False


def _require(path, what):
    if not os.path.isfile(path):
        raise MissingPathError(f"{what} {path!r} not found; export the model with "
                               "tools/export_model.py (add --onnx for ONNX Runtime)")


class PaddleInferenceBackend:
    """Paddle Inference on ``inference.json`` + ``inference.pdiparams`` (Paddle 3 PIR export).

    Args:
        model_dir: the folder ``tools/export_model.py`` wrote.
        g: the deploy config's ``Global`` section: ``use_gpu``, ``gpu_mem`` (MB), ``gpu_id``,
            ``enable_mkldnn`` (oneDNN, default on), ``cpu_num_threads``, ``precision`` (fp32 |
            bf16: oneDNN bf16 where the CPU has AVX512-BF16 or AMX, else fp32 with a warning),
            ``use_tensorrt`` / ``use_fp16`` (GPU, through ``paddle.tensorrt``), ``ir_optim``,
            ``enable_profile``.

    Set up as the paddleclas wheel's ``deploy/utils/predictor.py`` does, without
    ``enable_memory_optim()`` (it breaks PIR models on Paddle 3.3.1). ``precision`` names what
    runs; an int8 export runs its float graph here (warned once).

    Raises:
        FileNotFoundError: a model or parameters file is missing.
        BackendError: ``use_gpu`` on a Paddle without CUDA.
    """

    def __init__(self, model_dir, g):
        from paddle import inference

        model_file = os.path.join(model_dir, "inference.json")
        params_file = os.path.join(model_dir, "inference.pdiparams")
        _require(model_file, "Paddle inference model")
        _require(params_file, "Paddle inference parameters")
        if g.get("use_gpu", False) and g.get("use_tensorrt", False):
            model_file, params_file = trt_pir.converted_model(model_dir, g)
        config = inference.Config(model_file, params_file)
        self.precision = requested_precision(g, "paddle")
        warn_int8_once(model_dir, "paddle", "Paddle Inference runs its float graph "
                       "(inference.json) in fp32")
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
            self._set_cpu_precision(config, g)
        if g.get("enable_profile", False):
            config.enable_profile()
        config.disable_glog_info()
        config.switch_ir_optim(bool(g.get("ir_optim", True)))
        self.predictor = inference.create_predictor(config)
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])
        self.input_shape = None  # PIR handles do not report it: inference.yml does
        self.device = "GPU" if g.get("use_gpu", False) else "CPU"

    def _set_cpu_precision(self, config, g):
        """bf16 through oneDNN where the CPU has bf16 instructions, else fp32 with a warning."""
        if self.precision != "bf16":
            return
        flags = cpu_flags()
        if not g.get("enable_mkldnn", True) or not (flags["bf16"] or flags["amx"]):
            logger.warning("Global.precision bf16 needs oneDNN (enable_mkldnn) and a CPU with "
                           "AVX512-BF16 or AMX; running fp32")
            self.precision = "fp32"
            return
        config.enable_onednn_bfloat16()

    def __call__(self, batch):
        """``[N, C, H, W]`` float32 batch -> ``[N, class_num]`` numpy output (create_backend)."""
        self.input.reshape(batch.shape)
        self.input.copy_from_cpu(np.ascontiguousarray(batch, dtype=np.float32))
        self.predictor.run()
        return self.output.copy_to_cpu()


class OnnxRuntimeBackend:
    """ONNX Runtime on ``inference.onnx`` (``tools/export_model.py --onnx``), CPU (or CUDA when
    ``Global.use_gpu``), ``Global.cpu_num_threads`` intra-op threads, full graph optimisation
    unless ``Global.ir_optim`` is false, and the project's layout pass that keeps GELU on ONNX
    Runtime's blocked tensors (``ort_layout.py``; ``Global.ort_blocked_elementwise``).
    Int8 (QDQ) exports run, but no faster than fp32 (warned once).

    Raises:
        BackendError: onnxruntime is not installed.
        FileNotFoundError: ``inference.onnx`` is missing.
    """

    def __init__(self, model_dir, g):
        self.precision = requested_precision(g, "onnxruntime")
        warn_int8_once(model_dir, "onnxruntime", "ONNX Runtime runs it, but no faster than "
                       "fp32 (benchmarks/quantization.md)")
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
        self.device = self.session.get_providers()[0]

    def __call__(self, batch):
        """``[N, C, H, W]`` float32 batch -> ``[N, class_num]`` numpy output (create_backend)."""
        return self.session.run(None, {self.input_name: batch.astype(np.float32)})[0]


class OpenVinoBackend:
    """OpenVINO on CPU from ``inference.onnx`` (its Paddle frontend reads only the legacy
    ``.pdmodel`` format, not the PIR ``inference.json`` that Paddle 3 exports): latency hint,
    ``Global.cpu_num_threads`` threads, and an explicit inference precision, because on CPUs
    with AVX512-BF16 or AMX OpenVINO would otherwise pick bf16 by itself.

    ``Global.precision`` fp32 | bf16 sets the float precision; ``precision`` is read back from
    the compiled model and, for an int8 (QDQ) export, reads ``int8+fp32`` or ``int8+bf16``:
    OpenVINO runs its quantized convolutions in int8 (the one backend here that makes int8
    faster, about 1.8x for mini: benchmarks/results/cpu_latency_summary.md).

    Raises:
        BackendError: openvino is not installed, or ``Global.use_gpu`` is set (CPU only here).
        FileNotFoundError: ``inference.onnx`` is missing.
    """

    HINTS = {"fp32": "f32", "bf16": "bf16"}

    def __init__(self, model_dir, g):
        self.precision = requested_precision(g, "openvino")
        try:
            import openvino as ov
        except ImportError as exc:
            raise BackendError("Global.backend is openvino but openvino is not installed "
                               "(pip install -r deploy/requirements.txt)") from exc
        if g.get("use_gpu", False):
            raise BackendError("the openvino backend runs on CPU here; set -o Global.use_gpu="
                               "False or use Global.backend=paddle for a GPU")
        path = os.path.join(model_dir, "inference.onnx")
        _require(path, "ONNX model (OpenVINO reads the ONNX export)")
        core = ov.Core()
        model = core.read_model(path)
        self.compiled = core.compile_model(model, "CPU", {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(g.get("cpu_num_threads", 2)),
            "INFERENCE_PRECISION_HINT": self.HINTS[self.precision]})
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.precision = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}.get(ran, ran)
        if is_int8_model(model_dir):
            self.precision = f"int8+{self.precision}"  # QDQ parts int8, the rest as hinted
        self.request = self.compiled.create_infer_request()
        self.input_shape = [d.get_length() if d.is_static else None
                            for d in model.inputs[0].get_partial_shape()]
        self.device = core.get_property("CPU", "FULL_DEVICE_NAME")

    def executed_precisions(self):
        """{runtime precision: number of ops} of the compiled graph: shows whether the int8
        convolutions and matmuls of a QDQ model really run in int8 (u8/i8)."""
        counts = {}
        for op in self.compiled.get_runtime_model().get_ordered_ops():
            info = op.get_rt_info()
            if "runtimePrecision" in info and info["layerType"].astype(str) in (
                    "Convolution", "FullyConnected", "MatMul", "GroupConvolution"):
                key = info["runtimePrecision"].astype(str)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def __call__(self, batch):
        """``[N, C, H, W]`` float32 batch -> ``[N, class_num]`` numpy output (create_backend)."""
        out = self.request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return next(iter(out.values())).copy()


BACKENDS = {"paddle": PaddleInferenceBackend, "onnxruntime": OnnxRuntimeBackend,
            "openvino": OpenVinoBackend}


def check_input(batch, expected):
    """A clear error when preprocessing does not produce what the model was exported for."""
    got = list(batch.shape)
    if len(got) != len(expected) or any(e is not None and e != d for e, d in zip(expected, got)):
        want = "x".join("N" if e is None else str(e) for e in expected)
        raise InvalidValueError(
            f"the model was exported for input {want} but preprocessing produced "
            f"{'x'.join(map(str, got))}: make PreProcess resize/crop to the "
            "exported size, or re-export with Global.image_shape set to it")


def create_backend(model_dir, g):
    """The backend ``Global.backend`` names (paddle | onnxruntime | openvino) for ``model_dir``.

    Every backend is called as ``backend(batch)``: ``batch`` is the preprocessed images
    ``[N, C, H, W]`` (float32, normalised as ``inference.yml``'s PreProcess says); the result
    is the model's output as a numpy array ``[N, class_num]``: logits, or probabilities when
    the export added a softmax (``Global.infer_add_softmax``, the default). Each exposes
    ``precision`` (what runs), ``input_shape`` (``[N, C, H, W]`` with None for dynamic sizes,
    or None when the runtime does not report it) and ``device``.

    Raises:
        FileNotFoundError: ``model_dir`` is not a folder.
        ValueError: an unknown backend name.
        trt_pir.TensorRTSetupError (a RuntimeError): ``use_fp16`` without GPU and TensorRT.
    """
    if not model_dir or not os.path.isdir(model_dir):
        raise MissingPathError(f"Global.inference_model_dir {model_dir!r} is not a directory; "
                               "export a model first (tools/export_model.py)")
    name = str(g.get("backend", "paddle")).lower()
    if name not in BACKENDS:
        raise InvalidValueError(f"Global.backend {name!r}; valid: {', '.join(BACKENDS)}")
    trt_pir.check_precision(g)
    return BACKENDS[name](model_dir, g)
