"""PaddleClas source checkouts: the layout PaddleClas's install guide gives (the checkout's root
on PYTHONPATH), whose ``paddleclas.py`` hides the paddleclas wheel, and the genuine engine.

The genuine-engine test needs a checkout: ``PADDLECLAS_CHECKOUT=/path/to/PaddleClas pytest
tests/test_paddleclas_checkout.py`` (the test process itself keeps the wheel; only the tools it
starts get ``PADDLECLAS_ROOT`` and the checkout on PYTHONPATH).
"""
import glob
import os
import subprocess
import sys
import textwrap

import pytest

from engine_helpers import QUICK_START, ROOT, make_splits, tiny_overrides

pytestmark = pytest.mark.integration  # Python processes

# PaddleClas's checkout root holds paddleclas.py (its pip entry point), importing relatively.
ENTRY_POINT = "from .ppcls.arch import backbone\n"


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))


def _self_contained_checkout(root):
    """A stand-in checkout that, like the real one, imports nothing from the wheel."""
    _write(f"{root}/paddleclas.py", ENTRY_POINT)
    _write(f"{root}/ppcls/__init__.py", "")
    _write(f"{root}/ppcls/utils/__init__.py", "")
    _write(f"{root}/ppcls/arch/backbone/__init__.py", "")
    _write(f"{root}/ppcls/arch/backbone/base/__init__.py", "")
    _write(f"{root}/ppcls/arch/backbone/base/theseus_layer.py", """
        from paddle import nn
        class TheseusLayer(nn.Layer):
            def init_net(self, **kwargs):
                pass
        """)
    _write(f"{root}/ppcls/arch/backbone/model_zoo/__init__.py", "")
    _write(f"{root}/ppcls/arch/backbone/model_zoo/convnext.py", """
        from paddle import nn
        class DropPath(nn.Layer):
            def __init__(self, p=0.0):
                super().__init__()
            def forward(self, x):
                return x
        """)
    _write(f"{root}/ppcls/arch/__init__.py", """
        import copy, importlib
        from . import backbone
        def build_model(config, mode="train"):
            cfg = copy.deepcopy(config["Arch"])
            return getattr(importlib.import_module(__name__), cfg.pop("name"))(**cfg)
        """)


def _python(code, pythonpath, env_root=None, cwd=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonpath))
    env.pop("PADDLECLAS_ROOT", None)
    if env_root:
        env["PADDLECLAS_ROOT"] = env_root
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_checkout_on_pythonpath_hiding_the_wheel_registers_into_the_checkout(tmp_path):
    root = str(tmp_path / "PaddleClas")
    _self_contained_checkout(root)
    result = _python("""
        import ppcls_ext, ppcls.arch
        print(ppcls_ext.register())
        m = ppcls.arch.build_model({"Arch": {"name": "EConvNeXt_mini", "class_num": 4}})
        print(type(m).__name__)
        """, [root, ROOT], env_root=root, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    # the checkout only: its paddleclas.py hides the wheel, which is not imported by mistake
    assert "['ppcls.arch']" in result.stdout and "EConvNeXt" in result.stdout


def test_hidden_wheel_and_no_checkout_names_the_culprit(tmp_path):
    _write(str(tmp_path / "paddleclas.py"), ENTRY_POINT)
    result = _python("import ppcls_ext; ppcls_ext.register()", [str(tmp_path), ROOT],
                     cwd=str(tmp_path))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "PaddleClas is not importable" in last
    assert f"'paddleclas' resolves to the module {tmp_path / 'paddleclas.py'}" in last


def test_engine_ops_with_a_hidden_wheel_say_why(tmp_path):
    root = str(tmp_path / "PaddleClas")
    _self_contained_checkout(root)
    result = _python("import ppcls_ext.engine.data.transforms.ops", [root, ROOT], env_root=root,
                     cwd=str(tmp_path))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "paddleclas.deploy.python.preprocess from the paddleclas wheel" in last
    assert "PADDLECLAS_ROOT" in last and "pip install -e" in last


CHECKOUT = os.environ.get("PADDLECLAS_CHECKOUT")


@pytest.mark.skipif(not CHECKOUT, reason="set PADDLECLAS_CHECKOUT to a PaddleClas source "
                                          "checkout to run PaddleClas's own engine")
def test_paddleclas_engine_trains_evaluates_and_exports_the_same_config(tmp_path):
    data = make_splits(str(tmp_path / "data"), 12, 6)
    out = str(tmp_path / "out")
    env = dict(os.environ, PADDLECLAS_ROOT=CHECKOUT,
               PYTHONPATH=os.pathsep.join([CHECKOUT, ROOT]))

    def tool(name, overrides):
        cmd = [sys.executable, os.path.join(ROOT, "tools", f"{name}.py"), "-c", QUICK_START]
        for o in overrides:
            cmd += ["-o", o]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                                cwd=ROOT)  # the config's label list is relative to it
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    # TIPC passes -o AMP.use_amp=False to every config: a known section may be added
    tool("train", tiny_overrides(data, out, epochs=1, extra=["AMP.use_amp=False"]))
    # PaddleClas 2.6 saves under output_dir/Arch.name, its current source in output_dir itself
    best = (glob.glob(os.path.join(out, "best_model.pdparams"))
            + glob.glob(os.path.join(out, "EConvNeXt_mini", "best_model.pdparams")))
    assert best, os.listdir(out)
    prefix = best[0][:-len(".pdparams")]
    evaluated = tool("eval", tiny_overrides(data, out) + [f"Global.pretrained_model={prefix}"])
    assert "[Eval]" in evaluated.stdout + evaluated.stderr
    tool("export_model", tiny_overrides(data, out) + [
        f"Global.pretrained_model={prefix}", f"Global.save_inference_dir={tmp_path / 'inf'}"])
    assert os.path.isfile(tmp_path / "inf" / "inference.json")


@pytest.mark.skipif(not CHECKOUT, reason="set PADDLECLAS_CHECKOUT to a PaddleClas source "
                                          "checkout to run PaddleClas's own engine")
def test_paddleclas_engine_looks_names_up_instead_of_evaluating_them(tmp_path):
    """PaddleClas's own data, loss and metric builders eval() config names; under
    PADDLECLAS_ROOT those sites resolve names only (ppcls_ext.safe_names)."""
    data = make_splits(str(tmp_path / "data"), 4, 2)
    marker = tmp_path / "pwned"
    env = dict(os.environ, PADDLECLAS_ROOT=CHECKOUT,
               PYTHONPATH=os.pathsep.join([CHECKOUT, ROOT]))
    payload = f"__import__('os').system('touch {marker}')"
    for key in ("DataLoader.Train.dataset.name", "DataLoader.Train.sampler.name"):
        cmd = [sys.executable, os.path.join(ROOT, "tools", "train.py"), "-c", QUICK_START]
        for o in tiny_overrides(data, str(tmp_path / "out"), epochs=1) + [f'{key}="{payload}"']:
            cmd += ["-o", o]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                                cwd=ROOT)
        assert result.returncode != 0 and not marker.exists(), result.stderr[-2000:]
        assert "are looked up, never evaluated as code" in result.stderr, result.stderr[-2000:]
