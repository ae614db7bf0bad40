"""PaddleClas's TIPC chain (lite_train_lite_infer) against this project, on CPU.

The commands are the ones PaddleClas's ``test_tipc/test_train_inference_python.sh`` builds
from ``test_tipc/configs/EConvNeXt/EConvNeXt_mini_train_infer_python.txt``
(``tests/tipc_commands.py`` mirrors the script; its output was checked line by line against
the script run with a recording ``python``), with the two lines a CPU user changes
(``gpu_list:-1``, ``-o Global.device:cpu``). The data is made on the fly in the layout of
TIPC's ``prepare.sh`` (``dataset/ILSVRC2012/{train,val}`` with ``train_list.txt`` and
``val_list.txt``): nothing is downloaded.
"""
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tipc_commands import build_steps, cpu_variant

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIPC_CONFIG = os.path.join(ROOT, "test_tipc", "configs", "EConvNeXt",
                           "EConvNeXt_mini_train_infer_python.txt")
MODEL = "EConvNeXt_mini"
WEIGHTS = re.compile(r"(?:evaluating|exporting) the model weights (\S+)")


def make_ilsvrc_subset(root, n_train=16, n_val=4, classes=4):
    """Tiny JPEGs in TIPC's ILSVRC2012 layout (``train/``, ``val/`` and the two lists)."""
    base = os.path.join(root, "dataset", "ILSVRC2012")
    rng = np.random.RandomState(0)
    for split, n in (("train", n_train), ("val", n_val)):
        os.makedirs(os.path.join(base, split), exist_ok=True)
        lines = []
        for i in range(n):
            label = i % classes
            arr = np.clip(rng.normal(50 + 50 * label, 25, (48, 64, 3)), 0, 255).astype(np.uint8)
            name = f"{split}/ILSVRC2012_{split}_{i:08d}.JPEG"
            Image.fromarray(arr).save(os.path.join(base, name), format="JPEG")
            lines.append(f"{name} {label}")
        with open(os.path.join(base, f"{split}_list.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


def tipc_root(tmp_path):
    """A folder laid out as the repository (links to its code) with its own dataset/ and
    a real deploy/ folder, so that ``cd deploy`` + ``../dataset`` resolve inside it."""
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    (root / "test_tipc").mkdir()  # the script's LOG_PATH: test_tipc/output/...
    for name in ("tools", "configs", "ppcls_ext", "ppcls_infer"):
        os.symlink(os.path.join(ROOT, name), root / name)
    for name in ("python", "configs"):
        os.symlink(os.path.join(ROOT, "deploy", name), root / "deploy" / name)
    make_ilsvrc_subset(str(root))
    config = tmp_path / "EConvNeXt_mini_train_infer_python_cpu.txt"
    with open(TIPC_CONFIG) as f:
        config.write_text(cpu_variant(f.read()))
    return str(root), str(config)


def run_step(step, env):
    args = shlex.split(step.command)
    args[0] = sys.executable  # the config's python3, as the interpreter running the tests
    return subprocess.run(args, cwd=step.cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_shipped_config_is_convnext_tiny_format():
    """PaddleClas's ConvNeXt_tiny file with the model name and config paths swapped: same
    line count and every line's key in the same place (the script reads lines by index)."""
    with open(TIPC_CONFIG) as f:
        lines = f.read().rstrip("\n").split("\n")
    assert len(lines) == 54 and lines[1] == f"model_name:{MODEL}"
    assert lines[3] == "gpu_list:0|0,1" and lines[4] == "-o Global.device:gpu"
    assert lines[15].startswith(f"norm_train:tools/train.py -c configs/ImageNet/EConvNeXt/{MODEL}")
    assert lines[39].startswith("inference:python/predict_cls.py -c configs/inference_cls.yaml")
    steps = build_steps(TIPC_CONFIG, ROOT)
    # gpu 0: train, eval, export, 2 GPU + 8 CPU predictor runs; gpu 0,1: the same again
    assert len(steps) == 26 and [s.kind for s in steps[:3]] == ["train", "eval", "export"]
    assert "-m paddle.distributed.launch --devices=0,1" in steps[13].command
    assert "-o Global.log_ranks=0,1,2,3,4,5,6,7" in steps[13].command


@pytest.mark.integration
def test_tipc_lite_train_lite_infer_every_cpu_step_succeeds(tmp_path):
    root, config = tipc_root(tmp_path)
    steps = build_steps(config, root)
    assert [s.kind for s in steps].count("infer") == 10 and len(steps) == 13
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("PPCLS_DEBUG", None)
    done = {}
    for step in steps:
        if step.command in done:  # CPU lines differing only in the unused precision flag
            continue
        result = done[step.command] = run_step(step, env)
        out = result.stdout + result.stderr
        if step.gpu_only:
            # refused with one line naming the CPU build, not a traceback
            assert result.returncode != 0, out[-2000:]
            assert "Traceback" not in out, out[-3000:]
            assert "CPU build" in out or "CUDA" in out, out[-2000:]
            continue
        assert result.returncode == 0, f"{step.command}\n{out[-4000:]}"
        if step.kind == "train":
            log = open(step.train_log).read()  # where the script's status check reads it
            assert "[Train][Epoch 2/2]" in log and "max_mem_rss:" in log
            ckpt = os.path.join(os.path.dirname(step.train_log), "latest.pdparams")
            assert os.path.isfile(ckpt)
            assert os.path.isfile(os.path.join(os.path.dirname(step.train_log),
                                               "best_model.pdparams"))
        elif step.kind == "eval":
            assert "[Eval][Epoch 0][Avg]" in out
            evaluated = WEIGHTS.search(out).group(1)
        elif step.kind == "export":
            model_dir = step.command.split("Global.save_inference_dir=")[1].split()[0]
            assert os.path.isfile(os.path.join(model_dir, "inference.yml"))
            # the model deployed is the model evaluated: the same file, named in both logs
            assert WEIGHTS.search(out).group(1) == evaluated
            assert evaluated.endswith("latest.pdparams") and "latest.pdema" in out
        else:
            assert out.count("class_ids") >= 4, out[-2000:]
            assert "[benchmark] " in out  # Global.benchmark=True, PaddleClas's key
            assert "ResizeImage.resize_short=256" in out  # TIPC's PreProcess overrides applied
