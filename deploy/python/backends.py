"""Inference backends of both deploy predictors (classification and detection): Paddle
Inference, ONNX Runtime, OpenVINO.

A model folder is a PaddleClas export (``inference.json``/``.pdiparams``/``.onnx``, from
tools/export_model.py) or a PaddleDetection export (``model.json`` or ``model.pdmodel`` +
``model.pdiparams``, from tools/det/export_model.py). The ONNX backends read
``inference.onnx`` / ``model.onnx``; when the folder has none, the Paddle model is converted
on first use (``ppcls_infer.onnx_export``, needs paddle2onnx and so Paddle; an int8 export is
never converted, its ONNX file is the int8 model).

The Paddle Inference setup mirrors the paddleclas wheel's ``deploy/utils/predictor.py``
(GPU / oneDNN / threads / IR optimisation) except for
``enable_memory_optim()``, which makes ``create_predictor`` fail for every PIR model on
Paddle 3.3.1 ("Not find predictor_id 0 and pass_name memory_optimize_pass"), and TensorRT,
which for PIR models goes through ``paddle.tensorrt`` (trt_pir.py).

Only the Paddle backend imports Paddle (inside its constructor): with onnxruntime or openvino
this module needs numpy and the runtime alone (Paddle-free deployment, docs/deployment.md).
``Global.precision`` (fp32 | bf16) picks the float precision; every backend records the
precision that actually runs in ``self.precision`` (OpenVINO: read back from the compiled
model), and the predictor logs it. bf16 where it cannot run (a CPU without AVX512-BF16 or AMX,
Paddle without oneDNN) runs fp32 with a warning, as OpenVINO's precision hint and Paddle's
``enable_onednn_bfloat16`` themselves fall back; ONNX Runtime, which has no bf16 switch at
all, refuses it.
"""
import logging
import os

import numpy as np

import trt_pir
from cpu_info import cpu_flags
from ort_layout import create_session
from ppcls_infer import bounded_yaml
from ppcls_infer.cli import InvalidValueError, MissingPathError, UserError
from ppcls_infer.onnx_export import paddle_to_onnx

logger = logging.getLogger("deploy")
PRECISIONS = ("fp32", "bf16")
# file-name prefixes of an export: PaddleClas's (tools/export_model.py), PaddleDetection's
MODEL_PREFIXES = ("inference", "model")
EXPORT_HINT = ("export the model with tools/export_model.py (a classifier, add --onnx for the "
               "ONNX backends) or tools/det/export_model.py (a detector)")
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


def global_option(key):
    """How a setting is named to the user: ``Global.<key>`` of the deploy config (predict_cls);
    predict_det passes its own command-line flags to :func:`create_backend`."""
    return f"Global.{key}"


def requested_precision(g, backend, option=global_option):
    """``g["precision"]`` checked: fp32 | bf16, and no bf16 on ONNX Runtime (ValueError)."""
    precision = str(g.get("precision", "fp32")).lower()
    if precision not in PRECISIONS:
        raise InvalidValueError(
            f"{option('precision')} {precision!r}; valid: {', '.join(PRECISIONS)} "
            "(an int8 model is chosen by its folder, not by this key)")
    if precision == "bf16" and backend == "onnxruntime":
        raise InvalidValueError(f"{option('precision')} bf16 is not offered by the onnxruntime "
                                f"backend; use {option('backend')} openvino (or paddle), or "
                                "precision fp32")
    return precision


def paddle_model_files(model_dir):
    """(model file, params file) of an export: ``inference.json`` (PaddleClas),
    ``model.json`` or ``model.pdmodel`` (PaddleDetection), with its ``.pdiparams``.

    Raises:
        FileNotFoundError: no model file, or its parameters file is missing.
    """
    for prefix in MODEL_PREFIXES:
        for ext in (".json", ".pdmodel"):
            model_file = os.path.join(model_dir, prefix + ext)
            if os.path.isfile(model_file):
                params_file = os.path.join(model_dir, prefix + ".pdiparams")
                _require(params_file, "Paddle inference parameters")
                return model_file, params_file
    raise MissingPathError(f"no Paddle inference model in {model_dir!r} (inference.json, "
                           f"model.json or model.pdmodel); {EXPORT_HINT}")


def onnx_model_file(model_dir):
    """The ONNX model of an export: ``inference.onnx`` or ``model.onnx``; when neither exists,
    the Paddle model converted on first use into ``<prefix>.onnx`` beside it
    (``ppcls_infer.onnx_export``, opset 13).

    Raises:
        FileNotFoundError: no ONNX file and no Paddle model, or paddle2onnx is not
            installed (a Paddle-free deployment ships the ONNX file).
        BackendError: an int8 export without its ONNX file (its Paddle program is the float
            graph: converting it would silently run fp32), or the folder is not writable.
    """
    for prefix in MODEL_PREFIXES:
        path = os.path.join(model_dir, prefix + ".onnx")
        if os.path.isfile(path):
            return path
    model_file, params_file = paddle_model_files(model_dir)
    save_file = os.path.splitext(model_file)[0] + ".onnx"
    if is_int8_model(model_dir):
        raise BackendError(f"{save_file} not found and {model_dir} holds an int8 export, whose "
                           "Paddle program is its float graph: re-export it "
                           "(tools/quant_post.py, or tools/export_model.py for QAT)")
    try:
        import paddle2onnx  # noqa: F401  (imports Paddle)
    except ImportError as exc:
        raise MissingPathError(f"ONNX model {save_file!r} not found and paddle2onnx is not "
                               f"installed to convert {model_file}; {EXPORT_HINT}") from exc
    try:
        paddle_to_onnx(model_file, params_file, save_file)
    except OSError as exc:
        raise BackendError(f"cannot write {save_file} (converting {model_file} to ONNX): "
                           f"{exc.strerror or exc}; {EXPORT_HINT}") from exc
    logger.warning("converted %s to %s (paddle2onnx, first use)", model_file, save_file)
    return save_file


def is_int8_model(model_dir):
    """An int8 export says ``Global.quantized: int8`` in inference.yml (tools/quant_post.py and
    QAT export write it); a Paddle program with quantize ops counts too."""
    
    yml = os.path.join(model_dir, "inference.yml")
    if os.path.isfile(yml):
        with open(yml) as f:
            g = (bounded_yaml.safe_load(f) or {}).get("Global") or {}
        if str(g.get("quantized", "")).lower() == "int8":
            return True
    for prefix in MODEL_PREFIXES:
        program = os.path.join(model_dir, prefix + ".json")
        if os.path.isfile(program):
            with open(program) as f:
                return "quantize_linear" in f.read()
    return False


def _require(path, what):
    if not os.path.isfile(path):
        raise MissingPathError(f"{what} {path!r} not found; {EXPORT_HINT}")


class _Backend:
    """What every backend offers: ``run(feed)`` with named inputs and all outputs (detectors:
    ``image`` + ``scale_factor`` in, boxes + box counts out), ``backend(batch)`` for a model
    with one input and one output that matters (classifiers), ``input_names``,
    ``input_shape``, ``precision``, ``device``."""

    input_names = ()

    def run(self, feed):
        """``{input name: array}`` (names the model does not take are ignored) -> the list of
        all outputs as numpy arrays, in the model's output order.

        Raises:
            ValueError: ``feed`` lacks an input the model takes.
        """
        missing = [n for n in self.input_names if n not in feed]
        if missing:
            raise ValueError(f"the model takes inputs {list(self.input_names)}; the feed has "
                             f"{sorted(feed)} (missing {missing})")
        return self._run({n: np.ascontiguousarray(feed[n]) for n in self.input_names})

    def __call__(self, batch):
        """``[N, C, H, W]`` float32 batch into the first input -> the first output
        (classifiers: ``[N, class_num]``)."""
        return self._run({self.input_names[0]: np.ascontiguousarray(batch,
                                                                    dtype=np.float32)})[0]


class PaddleInferenceBackend(_Backend):
    """Paddle Inference on ``inference.json`` + ``inference.pdiparams`` (Paddle 3 PIR export of
    tools/export_model.py) or ``model.json``/``model.pdmodel`` + ``model.pdiparams``
    (PaddleDetection's export).

    Args:
        model_dir: the folder the export tool wrote.
        g: the deploy config's ``Global`` section: ``use_gpu``, ``gpu_mem`` (MB), ``gpu_id``,
            ``enable_mkldnn`` (oneDNN, default on), ``cpu_num_threads``, ``precision`` (fp32 |
            bf16: oneDNN bf16 where the CPU has AVX512-BF16 or AMX, else fp32 with a warning),
            ``use_tensorrt`` / ``use_fp16`` (GPU, through ``paddle.tensorrt``), ``ir_optim``,
            ``enable_profile``.
        option: how a setting is named in errors and warnings (``global_option``).

    Set up as the paddleclas wheel's ``deploy/utils/predictor.py`` does, without
    ``enable_memory_optim()`` (it breaks PIR models on Paddle 3.3.1). ``precision`` names what
    runs; an int8 export runs its float graph here (warned once).

    Raises:
        FileNotFoundError: a model or parameters file is missing.
        BackendError: ``use_gpu`` on a Paddle without CUDA.
    """

    def __init__(self, model_dir, g, option=global_option):
        from paddle import inference

        self.option = option
        model_file, params_file = paddle_model_files(model_dir)
        if g.get("use_gpu", False) and g.get("use_tensorrt", False):
            model_file, params_file = trt_pir.converted_model(model_dir, g)
        config = inference.Config(model_file, params_file)
        self.precision = requested_precision(g, "paddle", option)
        warn_int8_once(model_dir, "paddle", "Paddle Inference runs its float graph "
                       "(inference.json) in fp32")
        if g.get("use_gpu", False):
            import paddle

            if not paddle.device.is_compiled_with_cuda():
                raise BackendError(f"{option('use_gpu')} asks for a GPU but this Paddle has "
                                   f"no CUDA; leave {option('use_gpu')} out to run on the CPU, "
                                   "or install the GPU build of Paddle")
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
        self.input_names = tuple(self.predictor.get_input_names())
        self.inputs = {n: self.predictor.get_input_handle(n) for n in self.input_names}
        self.outputs = [self.predictor.get_output_handle(n)
                        for n in self.predictor.get_output_names()]
        self.input_shape = None  # PIR handles do not report it: inference.yml does
        self.device = "GPU" if g.get("use_gpu", False) else "CPU"

    def _set_cpu_precision(self, config, g):
        """bf16 through oneDNN where the CPU has bf16 instructions, else fp32 with a warning."""
        if self.precision != "bf16":
            return
        flags = cpu_flags()
        if not g.get("enable_mkldnn", True) or not (flags["bf16"] or flags["amx"]):
            logger.warning("%s bf16 needs oneDNN (%s) and a CPU with AVX512-BF16 or AMX; "
                           "running fp32", self.option("precision"),
                           self.option("enable_mkldnn"))
            self.precision = "fp32"
            return
        config.enable_onednn_bfloat16()

    def _run(self, feed):
        for name, array in feed.items():
            self.inputs[name].reshape(array.shape)
            self.inputs[name].copy_from_cpu(array)
        self.predictor.run()
        return [handle.copy_to_cpu() for handle in self.outputs]


class OnnxRuntimeBackend(_Backend):
    """ONNX Runtime on the export's ONNX file (``inference.onnx`` / ``model.onnx``, converted on
    first use: :func:`onnx_model_file`), CPU (or CUDA when ``Global.use_gpu``),
    ``Global.cpu_num_threads`` intra-op threads, full graph optimisation unless
    ``Global.ir_optim`` is false, and the project's layout pass that keeps GELU on ONNX
    Runtime's blocked tensors (``ort_layout.py``; ``Global.ort_blocked_elementwise``; a graph
    without such GELUs, e.g. a detector's SiLU/ReLU, is left as ORT optimised it).
    Int8 (QDQ) exports run, but no faster than fp32 (warned once).

    Raises:
        BackendError: onnxruntime is not installed.
        FileNotFoundError: no ONNX file and none can be converted.
    """

    def __init__(self, model_dir, g, option=global_option):
        self.precision = requested_precision(g, "onnxruntime", option)
        warn_int8_once(model_dir, "onnxruntime", "ONNX Runtime runs it, but no faster than "
                       "fp32 (benchmarks/results/quantization.md)")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendError(f"{option('backend')} is onnxruntime but onnxruntime is not "
                               "installed (pip install -r requirements.txt)") from exc
        path = onnx_model_file(model_dir)
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
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.input_shape = [d if isinstance(d, int) and d > 0 else None
                            for d in self.session.get_inputs()[0].shape]
        self.device = self.session.get_providers()[0]

    def _run(self, feed):
        return self.session.run(None, feed)


class OpenVinoBackend(_Backend):
    """OpenVINO on CPU from the export's ONNX file (its Paddle frontend reads only the legacy
    ``.pdmodel`` format, not the PIR ``.json`` that Paddle 3 exports; converted on first use
    like ONNX Runtime's): latency hint, ``Global.cpu_num_threads`` threads, and an explicit
    inference precision, because on CPUs with AVX512-BF16 or AMX OpenVINO would otherwise pick
    bf16 by itself.

    ``Global.precision`` fp32 | bf16 sets the float precision; ``precision`` is read back from
    the compiled model (bf16 asked on a CPU without it runs fp32, warned) and, for an int8
    (QDQ) export, reads ``int8+fp32`` or ``int8+bf16``: OpenVINO runs its quantized
    convolutions in int8 (the one backend here that makes int8 faster, about 1.8x for mini:
    benchmarks/results/cpu_latency_summary.md).

    Raises:
        BackendError: openvino is not installed, or ``Global.use_gpu`` is set (CPU only here).
        FileNotFoundError: no ONNX file and none can be converted.
    """

    HINTS = {"fp32": "f32", "bf16": "bf16"}

    def __init__(self, model_dir, g, option=global_option):
        self.precision = requested_precision(g, "openvino", option)
        try:
            import openvino as ov
        except ImportError as exc:
            raise BackendError(f"{option('backend')} is openvino but openvino is not installed "
                               "(pip install -r deploy/requirements.txt)") from exc
        if g.get("use_gpu", False):
            raise BackendError(f"the openvino backend runs on the CPU here; leave "
                               f"{option('use_gpu')} out, or use {option('backend')} paddle or "
                               "onnxruntime for a GPU")
        core = ov.Core()
        model = core.read_model(onnx_model_file(model_dir))
        asked = self.precision
        self.compiled = core.compile_model(model, "CPU", {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(g.get("cpu_num_threads", 2)),
            "INFERENCE_PRECISION_HINT": self.HINTS[asked]})
        ran = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.precision = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}.get(ran, ran)
        if asked != self.precision:
            logger.warning("%s %s: OpenVINO runs %s on this CPU (bf16 needs AVX512-BF16 or "
                           "AMX)", option("precision"), asked, self.precision)
        if is_int8_model(model_dir):
            self.precision = f"int8+{self.precision}"  # QDQ parts int8, the rest as hinted
        self.request = self.compiled.create_infer_request()
        self.input_names = tuple(port.get_any_name() for port in self.compiled.inputs)
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

    def _run(self, feed):
        out = self.request.infer(feed)
        return [out[port].copy() for port in self.compiled.outputs]


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


def create_backend(model_dir, g, option=global_option):
    """The backend ``Global.backend`` names (paddle | onnxruntime | openvino) for ``model_dir``,
    a PaddleClas or PaddleDetection export.

    ``backend(batch)``: ``batch`` is the preprocessed images ``[N, C, H, W]`` (float32,
    normalised as the export's preprocessing says) fed to the model's first input; the result
    is its first output as a numpy array, for a classifier ``[N, class_num]``: logits, or
    probabilities when the export added a softmax (``Global.infer_add_softmax``, the
    default). ``backend.run(feed)``: named inputs (a detector: ``image`` ``[N, 3, H, W]`` and
    ``scale_factor`` ``[N, 2]``), all outputs in order (a detector: boxes ``[M, 6]`` and the
    box count per image ``[N]``). Each exposes ``precision`` (what runs), ``input_names``,
    ``input_shape`` (of the first input, ``[N, C, H, W]`` with None for dynamic sizes, or None
    when the runtime does not report it) and ``device``. ``option(key)`` names a setting in
    errors (default ``Global.<key>``).

    Raises:
        FileNotFoundError: ``model_dir`` is not a folder, or a model file is missing.
        ValueError: an unknown backend name or precision.
        BackendError: the runtime is not installed or cannot run here.
        trt_pir.TensorRTSetupError (a RuntimeError): ``use_fp16`` without GPU and TensorRT.
    """
    if not model_dir or not os.path.isdir(model_dir):
        raise MissingPathError(f"{option('inference_model_dir')} {model_dir!r} is not a "
                               f"directory; {EXPORT_HINT}")
    name = str(g.get("backend", "paddle")).lower()
    if name not in BACKENDS:
        raise InvalidValueError(f"{option('backend')} {name!r}; valid: {', '.join(BACKENDS)}")
    trt_pir.check_precision(g)
    return BACKENDS[name](model_dir, g, option)
