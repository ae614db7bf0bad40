"""The one run-once / undoable patch mechanism (ppcls_ext/patching.py) and what uses it."""
import os
import subprocess
import sys
import textwrap
import types

import pytest

from ppcls_ext import patching

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_apply_once_and_undo_restores_attributes_and_items():
    target = types.SimpleNamespace(kept=1)
    table = {"old": 1}
    calls = []

    def patch(rec):
        calls.append(1)
        rec.setattr(target, "kept", 2)
        rec.setattr(target, "added", 3)
        rec.setitem(table, "old", 10)
        rec.setitem(table, "new", 20)

    try:
        assert patching.apply("test.patch", patch) is True
        assert patching.apply("test.patch", patch) is False and calls == [1]
        assert (target.kept, target.added, table) == (2, 3, {"old": 10, "new": 20})
        assert patching.names("test.") == ["test.patch"]
    finally:
        patching.undo("test.patch")
    assert target.kept == 1 and not hasattr(target, "added") and table == {"old": 1}
    assert not patching.is_applied("test.patch")


def test_a_failing_patch_leaves_nothing_behind():
    target = types.SimpleNamespace(x=1)

    def broken(rec):
        rec.setattr(target, "x", 2)
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        patching.apply("test.broken", broken)
    assert target.x == 1 and not patching.is_applied("test.broken")


def test_applied_context_manager_undoes_only_what_it_added():
    target = types.SimpleNamespace(a=0, b=0)
    patching.apply("test.before", lambda rec: rec.setattr(target, "a", 1))
    try:
        def install():
            patching.apply("test.before", lambda rec: rec.setattr(target, "a", 5))
            patching.apply("test.inside", lambda rec: rec.setattr(target, "b", 1))

        with patching.applied(install):
            assert (target.a, target.b) == (1, 1)
        assert (target.a, target.b) == (1, 0)
    finally:
        patching.undo("test.before")


def test_register_and_unregister_paddleclas():
    import ppcls_ext
    from paddleclas.ppcls import arch as wheel_arch
    from ppcls_ext.registry import unregister

    ppcls_ext.register()
    assert wheel_arch.EConvNeXt_mini is ppcls_ext.EConvNeXt_mini
    unregister()
    try:
        assert not hasattr(wheel_arch, "EConvNeXt_mini")
        assert not hasattr(wheel_arch.backbone, "EConvNeXt_mini")
    finally:
        ppcls_ext.register()
    assert wheel_arch.backbone.EConvNeXt_tiny is ppcls_ext.EConvNeXt_tiny


def _python(code):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=240, cwd=ROOT)


@pytest.mark.integration
def test_importing_the_packages_changes_nothing():
    result = _python("""
        import sys
        import paddle
        to_static = paddle.jit.to_static
        import ppcls_ext, ppcls_ext.det, ppcls_ext.det.compat, ppcls_ext.engine.config
        import ppcls_ext.commands, ppcls_ext.det.commands, ppcls_infer.cli
        from PIL import ImageFile
        from paddleclas.ppcls import arch
        assert not ImageFile.LOAD_TRUNCATED_IMAGES
        assert "ppdet" not in sys.modules, "importing ppcls_ext.det imported ppdet"
        assert not hasattr(arch, "EConvNeXt_mini"), "import registered into PaddleClas"
        assert paddle.jit.to_static is to_static
        from ppcls_ext import patching
        assert patching.names() == [], patching.names()
        import ppcls_ext.det.backbone  # imports ppdet, whose trainer flips PIL's flag
        assert not ImageFile.LOAD_TRUNCATED_IMAGES, "importing ppdet flipped PIL's flag"
        from ppdet.core.workspace import global_config
        assert "EConvNeXt" not in global_config, "import registered into PaddleDetection"
        print("CLEAN")
        """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "CLEAN\n"


@pytest.mark.integration
def test_det_install_and_uninstall_restore_paddledetection():
    result = _python("""
        import io, contextlib
        with contextlib.redirect_stdout(io.StringIO()):
            import ppdet.engine  # PaddleDetection as it is, imported first
        from PIL import ImageFile
        ImageFile.LOAD_TRUNCATED_IMAGES = False  # ppdet's trainer set it on import
        import ppdet.utils.checkpoint as checkpoint
        import ppdet.modeling.necks.custom_pan as custom_pan
        from ppdet.core.workspace import global_config
        from ppdet.modeling.assigners.task_aligned_assigner import TaskAlignedAssigner
        originals = (TaskAlignedAssigner.forward, checkpoint.load_pretrain_weight,
                     custom_pan.F)
        import ppcls_ext.det as det
        assert "EConvNeXt" not in global_config
        names = det.install()
        assert det.install() == names  # idempotent
        assert "EConvNeXt" in global_config and "det.register_backbone" in names
        assert TaskAlignedAssigner.forward is not originals[0]
        assert checkpoint.load_pretrain_weight is not originals[1]
        assert ImageFile.LOAD_TRUNCATED_IMAGES is False
        det.uninstall()
        assert "EConvNeXt" not in global_config
        assert (TaskAlignedAssigner.forward, checkpoint.load_pretrain_weight,
                custom_pan.F) == originals
        with det.installed():
            assert "EConvNeXt" in global_config
        assert "EConvNeXt" not in global_config
        det.install()
        assert "EConvNeXt" in global_config
        print("OK")
        """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "OK"
