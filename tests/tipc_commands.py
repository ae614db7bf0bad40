"""The command lines PaddleClas's TIPC script builds from a ``*_train_infer_python.txt``.

Mirrors ``test_tipc/test_train_inference_python.sh`` and ``test_tipc/common_func.sh`` of
PaddleClas (develop; the 2.5 release builds the same lines) for the modes that train
(``lite_train_lite_infer`` and the other train modes), so that a test can run the very
commands a PaddleClas user's TIPC run issues without its shell scripts or downloads:

* line N of the file is ``key:value`` (``func_parser_key`` / ``func_parser_value``: the text
  before the first ``:`` and the text between the first and second ``:``);
* ``func_set_params(key, value)`` is ``key=value``, or nothing for a ``null`` key or value;
* per entry of ``gpu_list`` (``|``-separated; ``-1`` is CPU, one id a single GPU, ``0,1`` a
  ``paddle.distributed.launch`` over those GPUs), per ``Global.auto_cast`` value and trainer:
  train (``-o Global.print_mem_info=True`` appended, ``-o Global.log_ranks=0,...,7`` for
  launches), eval and export of ``{save_log}/{model}/latest``, then from ``deploy/`` one
  predictor run per use_gpu x (mkldnn x threads x batch x precision on CPU | TensorRT x
  precision x batch on GPU, fp16 without TensorRT skipped).

The script judges a training step by ``cat {save_log}/{model}/train.log`` (the log must be
there); eval, export and inference by their exit codes.
"""
import dataclasses
import os


def parser_key(line):
    return line.split(":")[0]


def parser_value(line):
    parts = line.split(":")
    return parts[1] if len(parts) > 1 else ""


def set_params(key, value):
    if key == "null" or value in ("null", " ", ""):
        return " "
    return f"{key}={value}"


def set_amp_params(value):
    if value == "fp16":
        return ("-o AMP.use_amp=True -o AMP.scale_loss=128 -o AMP.use_dynamic_loss_scaling=True "
                "-o AMP.level=O2")
    if value == "amp":
        return ("-o AMP.use_amp=True -o AMP.scale_loss=128 -o AMP.use_dynamic_loss_scaling=True "
                "-o AMP.level=O1")
    return "-o AMP.use_amp=False"


def parser_params(line, mode):
    """``func_parser_params``: the value for ``mode`` in ``key:mode1=v1|mode2=v2``.

    The script calls it without the mode (``MODE`` is empty inside the function), so it
    always yields nothing and the epoch count falls back to 2; ``mode=""`` reproduces that.
    """
    for item in parser_value(line).split("|"):
        name, _, value = item.partition("=")
        if mode and name == mode:
            return value
    return ""


@dataclasses.dataclass
class Step:
    kind: str          # train | eval | export | infer
    command: str       # as the script evals it (without its "> log 2>&1")
    cwd: str           # the repository root, or deploy/ for inference
    log: str           # where the script sends the output
    gpu_only: bool     # needs CUDA: refused on a CPU build
    train_log: str = ""  # train steps: the file the script's status check cats


def build_steps(config_file, root, mode="lite_train_lite_infer", python=None):
    """Every step of ``test_train_inference_python.sh config_file mode`` run from ``root``."""
    with open(config_file) as f:
        lines = [ln for ln in f.read().split("\n") if ln]  # bash drops empty lines too
    v = [parser_value(ln) for ln in lines]
    k = [parser_key(ln) for ln in lines]
    model_name, gpu_list = v[1], v[3]
    python = python or v[2]
    train_use_gpu_key, train_use_gpu_value = k[4], v[4]
    autocast_list = v[5]
    epoch_key = k[6]
    epoch_num = parser_params(lines[6], "") or "2"
    save_model_key = k[7]
    train_batch_key, train_batch_value = k[8], v[8]
    pretrain_model_key, pretrain_model_value = k[9], v[9]
    train_model_name, train_param_key1, train_param_value1 = v[10], k[12], v[12]
    trainer_list = v[14]
    norm_trainer, norm_export = v[15], v[29]
    eval_py, eval_key1, eval_value1 = v[23], k[24], v[24]
    save_infer_key, export_weight = k[27], k[28]
    inference_py = v[39]
    use_gpu_key, use_gpu_list = k[40], v[40]
    use_mkldnn_key, use_mkldnn_list = k[41], v[41]
    cpu_threads_key, cpu_threads_list = k[42], v[42]
    batch_size_key, batch_size_list = k[43], v[43]
    use_trt_key, use_trt_list = k[44], v[44]
    precision_key, precision_list = k[45], v[45]
    infer_model_key = k[46]
    image_dir_key, infer_img_dir = k[47], v[47]
    benchmark_key, benchmark_value = k[49], v[49]
    infer_key1, infer_value1 = k[50], v[50]
    for name, value in (("pact_train", v[16]), ("fpgm_train", v[17]), ("distill_train", v[18])):
        if value != "null" and name in trainer_list.split("|"):
            raise ValueError(f"{config_file}: trainer {name} is not mirrored by this builder")

    log_path = os.path.join(root, "test_tipc", "output", model_name, mode)
    steps = []
    for gpu in gpu_list.split("|"):
        multi = len(gpu) > 2
        gpu_only = gpu != "-1" or train_use_gpu_value == "gpu"
        for autocast in autocast_list.split("|"):
            for trainer in trainer_list.split("|"):
                save_log = f"{log_path}/{trainer}_gpus_{gpu}_autocast_{autocast}_nodes_1"
                common = " ".join([
                    set_params(train_use_gpu_key, train_use_gpu_value),
                    set_params(save_model_key, save_log), set_params(epoch_key, epoch_num),
                    set_params(pretrain_model_key, pretrain_model_value),
                    set_amp_params(autocast), set_params(train_batch_key, train_batch_value),
                    set_params(train_param_key1, train_param_value1)])
                if not multi:
                    cmd = f"{python} {norm_trainer} {common} -o Global.print_mem_info=True "
                else:
                    cmd = (f"{python} -m paddle.distributed.launch --devices={gpu} {norm_trainer} "
                           f"{common} -o Global.print_mem_info=True "
                           "-o Global.log_ranks=0,1,2,3,4,5,6,7")
                steps.append(Step("train", cmd, root, save_log + ".log", gpu_only,
                                  f"{save_log}/{model_name}/train.log"))
                weights = f"{save_log}/{model_name}/{train_model_name}"
                if eval_py != "null":
                    cmd = (f"{python} {eval_py} {set_params(pretrain_model_key, weights)} "
                           f"{set_params(train_use_gpu_key, train_use_gpu_value)} "
                           f"{set_params(eval_key1, eval_value1)}")
                    steps.append(Step("eval", cmd, root, f"{save_log}_eval.log", gpu_only))
                if norm_export == "null":
                    continue
                cmd = (f"{python} {norm_export} {set_params(export_weight, weights)} "
                       f"{set_params(save_infer_key, save_log)}")
                steps.append(Step("export", cmd, root, f"{save_log}_export.log", gpu_only))
                steps += _inference_steps(
                    python, inference_py, save_log, log_path, infer_img_dir, gpu,
                    os.path.join(root, "deploy"), use_gpu_key, use_gpu_list, use_mkldnn_key,
                    use_mkldnn_list, cpu_threads_key, cpu_threads_list, batch_size_key,
                    batch_size_list, use_trt_key, use_trt_list, precision_key, precision_list,
                    infer_model_key, image_dir_key, benchmark_key, benchmark_value, infer_key1,
                    infer_value1)
    return steps


def _inference_steps(python, script, model_dir, log_path, img_dir, gpu, cwd, use_gpu_key,
                     use_gpu_list, use_mkldnn_key, use_mkldnn_list, cpu_threads_key,
                     cpu_threads_list, batch_size_key, batch_size_list, use_trt_key,
                     use_trt_list, precision_key, precision_list, infer_model_key,
                     image_dir_key, benchmark_key, benchmark_value, infer_key1, infer_value1):
    steps = []
    for use_gpu in use_gpu_list.split("|"):
        if use_gpu in ("False", "cpu"):
            for mkldnn in use_mkldnn_list.split("|"):
                for threads in cpu_threads_list.split("|"):
                    for bs in batch_size_list.split("|"):
                        for precision in precision_list.split("|"):
                            log = (f"{log_path}/python_infer_cpu_gpus_{gpu}_usemkldnn_{mkldnn}"
                                   f"_threads_{threads}_precision_{precision}_batchsize_{bs}.log")
                            cmd = " ".join([
                                python, script, f"{use_gpu_key}={use_gpu}",
                                f"{use_mkldnn_key}={mkldnn}",
                                set_params(cpu_threads_key, threads),
                                set_params(infer_model_key, model_dir),
                                set_params(batch_size_key, bs), set_params(image_dir_key, img_dir),
                                set_params(benchmark_key, benchmark_value),
                                set_params(infer_key1, infer_value1)]) + " "
                            steps.append(Step("infer", cmd, cwd, log, gpu_only=False))
        elif use_gpu in ("True", "gpu"):
            for trt in use_trt_list.split("|"):
                for precision in precision_list.split("|"):
                    if precision == "True" and trt == "False":
                        continue
                    for bs in batch_size_list.split("|"):
                        log = (f"{log_path}/python_infer_gpu_gpus_{gpu}_usetrt_{trt}_precision_"
                               f"{precision}_batchsize_{bs}.log")
                        cmd = " ".join([
                            python, script, f"{use_gpu_key}={use_gpu}",
                            set_params(use_trt_key, trt), set_params(precision_key, precision),
                            set_params(infer_model_key, model_dir),
                            set_params(batch_size_key, bs), set_params(image_dir_key, img_dir),
                            set_params(benchmark_key, benchmark_value)]) + " "
                        steps.append(Step("infer", cmd, cwd, log, gpu_only=True))
    return steps


def cpu_variant(text):
    """The config text as a CPU-only PaddleClas user edits it: ``gpu_list:-1`` and
    ``-o Global.device:cpu`` (the two lines PaddleClas's own CPU TIPC configs set)."""
    out = []
    for line in text.split("\n"):
        if line.startswith("gpu_list:"):
            line = "gpu_list:-1"
        elif line.startswith("-o Global.device:"):
            line = "-o Global.device:cpu"
        out.append(line)
    return "\n".join(out)
