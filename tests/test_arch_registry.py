"""Registration into PaddleClas's arch registry: wheel and source-checkout layouts."""
import os
import subprocess
import sys
import textwrap

import paddle
import pytest

import ppcls_ext
from paddleclas.ppcls import arch as wheel_arch


def test_wheel_build_model_resolves_econvnext_after_register():
    assert "paddleclas.ppcls.arch" in ppcls_ext.register()
    assert ppcls_ext.register() == ppcls_ext.register()  # idempotent
    for name in ppcls_ext.MODEL_NAMES:
        assert getattr(wheel_arch, name) is getattr(ppcls_ext, name)
    model = wheel_arch.build_model({"Arch": {"name": "EConvNeXt_tiny", "class_num": 6,
                                             "drop_path_rate": 0.1},
                                    "Global": {"device": "cpu"}})
    assert isinstance(model, ppcls_ext.EConvNeXt)
    # PaddleClas's build_model runs its slim hooks for TheseusLayer models only.
    assert isinstance(model, wheel_arch.TheseusLayer)
    model.eval()
    with paddle.no_grad():
        assert model(paddle.randn([1, 3, 64, 64])).shape == [1, 6]


def test_build_model_unknown_name_lists_choices():
    with pytest.raises(ValueError) as err:
        ppcls_ext.build_model({"Arch": {"name": "EConvNeXt_tiyn"}})
    msg = str(err.value)
    assert "EConvNeXt_tiyn" in msg and "Did you mean EConvNeXt_tiny" in msg
    assert "EConvNeXt_mini, EConvNeXt_tiny, EConvNeXt_small" in msg
    with pytest.raises(ValueError, match="Arch section"):
        ppcls_ext.build_model({"Global": {}})


def test_build_model_bad_keyword_lists_valid_keywords():
    with pytest.raises(TypeError) as err:
        ppcls_ext.build_model({"Arch": {"name": "EConvNeXt_mini", "clas_num": 3}})
    assert "unknown key 'clas_num' in Arch (EConvNeXt_mini) (did you mean 'class_num'?)" \
        in str(err.value)
    assert "drop_path_rate" in str(err.value)


def test_pretrained_true_explains_no_official_weights():
    with pytest.raises(ValueError, match="no official E-ConvNeXt weights"):
        ppcls_ext.EConvNeXt_mini(pretrained=True)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text))


def _fake_checkout(root):
    """A minimal stand-in for a PaddleClas source tree: top-level ``ppcls`` whose arch
    registry resolves names with getattr on its own module, as PaddleClas's does."""
    wheel = "paddleclas.ppcls.arch.backbone"
    _write(f"{root}/ppcls/__init__.py", "")
    _write(f"{root}/ppcls/utils/__init__.py", "")
    _write(f"{root}/ppcls/utils/download.py", "from paddleclas.ppcls.utils.download import *\n")
    _write(f"{root}/ppcls/arch/backbone/__init__.py", "")
    _write(f"{root}/ppcls/arch/backbone/base/__init__.py", "")
    _write(f"{root}/ppcls/arch/backbone/base/theseus_layer.py",
           f"from {wheel}.base.theseus_layer import TheseusLayer\n")
    _write(f"{root}/ppcls/arch/backbone/model_zoo/__init__.py", "")
    _write(f"{root}/ppcls/arch/backbone/model_zoo/convnext.py",
           f"from {wheel}.model_zoo.convnext import DropPath\n")
    _write(f"{root}/ppcls/arch/__init__.py", """
        import copy, importlib
        from . import backbone
        def build_model(config, mode="train"):
            cfg = copy.deepcopy(config["Arch"])
            return getattr(importlib.import_module(__name__), cfg.pop("name"))(**cfg)
        """)


def _run(code, env_root, cwd, on_path=True):
    # a checkout is importable the way PaddleClas's install guide makes it: on PYTHONPATH
    path = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    env = dict(os.environ, PADDLECLAS_ROOT=env_root,
               PYTHONPATH=os.pathsep.join(([env_root] if on_path else []) + path))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.integration  # a Python process
def test_registers_into_a_source_checkout_named_by_env(tmp_path):
    root = str(tmp_path / "PaddleClas")
    _fake_checkout(root)
    result = _run("""
        import ppcls_ext, ppcls.arch
        assert not hasattr(ppcls.arch, "EConvNeXt_mini")  # the import registers nothing
        print(ppcls_ext.register())
        m = ppcls.arch.build_model({"Arch": {"name": "EConvNeXt_mini", "class_num": 4}})
        from ppcls.arch.backbone.base.theseus_layer import TheseusLayer
        print(type(m).__name__, isinstance(m, TheseusLayer))
        """, root, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "['ppcls.arch', 'paddleclas.ppcls.arch']" in result.stdout
    assert "EConvNeXt True" in result.stdout


@pytest.mark.integration  # a Python process
def test_checkout_logger_does_not_print_every_line_twice(tmp_path):
    root = str(tmp_path / "PaddleClas")
    _fake_checkout(root)
    # a second copy of PaddleClas's logger module, as a checkout has beside the wheel's
    _write(f"{root}/ppcls/utils/logger.py", """
        import paddleclas.ppcls.utils.logger as _wheel
        exec(compile(open(_wheel.__file__).read(), __file__, "exec"))
        """)
    result = _run("""
        import ppcls_ext
        ppcls_ext.register()
        from ppcls.utils import logger
        logger.init_logger()
        logger.info("one line")
        """, root, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("one line") == 1, result.stdout


@pytest.mark.integration  # a Python process
def test_env_pointing_elsewhere_fails_clearly(tmp_path):
    result = _run("import ppcls_ext; ppcls_ext.register()", str(tmp_path / "nowhere"), str(tmp_path))
    assert result.returncode != 0
    assert "PADDLECLAS_ROOT" in result.stderr and "not a PaddleClas source checkout" in \
        result.stderr


@pytest.mark.integration  # a Python process
def test_env_naming_a_checkout_that_is_not_importable_fails_clearly(tmp_path):
    root = str(tmp_path / "PaddleClas")
    _fake_checkout(root)
    result = _run("import ppcls_ext; ppcls_ext.register()", root, str(tmp_path), on_path=False)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ppcls is not importable" in last and f"PYTHONPATH={root}" in last
