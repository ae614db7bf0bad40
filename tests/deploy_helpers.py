"""Fixtures shared by the deploy tests: the digits set and one exported mini (session scope,
so that the export runs once for all deploy test files)."""
import os
import textwrap

import paddle
import pytest

from engine_helpers import QUICK_START, ROOT, load
from ppcls_ext import EConvNeXt_mini
from ppcls_ext.export import export, to_onnx

DEPLOY_PY = os.path.join(ROOT, "deploy", "python")

# Runs a deploy script (argv[1:]) in a process where paddle, paddleclas, ppcls, ppdet, paddle2onnx
# and the training package cannot be imported, as in a deployment image that holds only
# deploy/requirements.txt; prints the blocked modules that were imported anyway.
NO_PADDLE = textwrap.dedent("""
    import importlib.abc, os, runpy, sys

    BLOCKED = ("paddle", "paddleclas", "ppcls", "ppcls_ext", "paddle2onnx", "ppdet")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not installed in this deployment")

    sys.meta_path.insert(0, Block())
    try:
        import paddle
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker did not block paddle")
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(sys.argv[0]))  # as `python deploy/python/x.py` does
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    finally:
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print("imported blocked modules:", leaked, file=sys.stderr)
""")

# Runs a deploy script (argv[1:]) in a process where every atomic write is denied (tempfile's
# mkstemp raises EACCES, as a folder without write permission does, also for root).
DENY_WRITES = textwrap.dedent("""
    import errno, os, runpy, sys, tempfile

    def deny(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", kwargs.get("dir"))

    tempfile.mkstemp = deny
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(sys.argv[0]))  # as `python deploy/python/x.py` does
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


@pytest.fixture(scope="session")
def digits(tmp_path_factory):
    from ppcls_ext.engine.data.digits import prepare_digits

    root = str(tmp_path_factory.mktemp("digits"))
    prepare_digits(root)
    return root


def export_mini(out, digits, add_softmax):
    """A digits mini with non-trivial BN statistics saved to ``out/w.pdparams`` and exported
    to ``out/inference`` (+ ONNX) as tools/export_model.py --onnx does; returns
    ``(model_dir, model in eval mode, config)``."""
    model = EConvNeXt_mini(class_num=10)
    model.train()
    with paddle.no_grad():
        for _ in range(3):
            model(paddle.randn([8, 3, 32, 32]) * 2 + 0.5)
    paddle.save(model.state_dict(), str(out / "w.pdparams"))
    config = load(QUICK_START, [f"Global.pretrained_model={out}/w",
                                f"Global.save_inference_dir={out}/inference",
                                f"Global.infer_add_softmax={add_softmax}",
                                f"Infer.PostProcess.class_id_map_file={digits}/label_list.txt"])
    model_dir = export(config)
    to_onnx(model_dir)
    model.eval()
    return model_dir, model, config


@pytest.fixture(scope="session")
def exported(digits, tmp_path_factory):
    """A mini with non-trivial BN statistics, exported as logits (no softmax) + ONNX."""
    model_dir, model, config = export_mini(tmp_path_factory.mktemp("export"), digits, False)
    return dict(dir=model_dir, model=model, config=config)
