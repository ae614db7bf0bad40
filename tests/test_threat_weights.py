"""Every route by which Paddle can unpickle a weights file passes the opcode scan or refuses
(threat model in docs/security.md). Each payload touches a file in tmp_path; the tests
assert it does not exist. Memory attacks are checked to be refused before allocation: in a
subprocess whose address space is capped a little above what it already uses."""
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from engine_helpers import ROOT
from threat_helpers import Reduce as _Reduce

_reconstruct = np.core.multiarray._reconstruct


def _trap(path, marker):
    with open(path, "wb") as f:
        pickle.dump({"w": np.zeros(2, "float32"),
                     "x": _Reduce(os.system, (f"touch {marker}",))}, f, protocol=2)
    return str(path)


def _python(code, env=None, timeout=240):
    full_env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=full_env, cwd=ROOT)


# --------------------------------------------------------- jit prefix / directory (case 4)
_JIT_TRAP = """\
    import os, pickle, paddle
    prefix = {prefix!r}
    m = paddle.nn.Linear(2, 2)
    paddle.jit.save(m, prefix, input_spec=[paddle.static.InputSpec([None, 2], "float32")])
    class P:
        def __reduce__(self):
            return (os.system, ("touch {marker}",))
    with open(prefix + ".pdiparams.info", "wb") as f:
        pickle.dump({{"x": P()}}, f)
    {load}
"""


@pytest.mark.integration
@pytest.mark.parametrize("route", ["paddle.load", "ppdet.load_pretrain_weight"])
def test_jit_prefix_route_refused(tmp_path, route):
    """``weights=evil/X``: ``X.pdparams`` is no file but ``X.pdparams.pdmodel`` /
    ``.pdiparams`` / ``.pdiparams.info`` exist: Paddle's legacy loader unpickles the
    ``.info`` without any check. Legacy programs load with FLAGS_enable_pir_api=0."""
    marker = tmp_path / "pwned"
    prefix = str(tmp_path / "evil" / "X.pdparams")
    os.makedirs(tmp_path / "evil" / "X")  # X itself is a folder, as in the report
    if route == "paddle.load":
        load = ("from ppcls_ext.io import guard_paddle_load\n    guard_paddle_load()\n"
                f"    paddle.load({prefix!r})")
    else:
        load = ("import ppcls_ext.det\n    ppcls_ext.det.install()\n"
                "    from ppcls_ext.io import guard_paddle_load\n"
                "    guard_paddle_load()\n    from ppdet.utils.checkpoint import load_pretrain_weight\n"
                f"    load_pretrain_weight(m, {prefix[:-len('.pdparams')]!r})")
    proc = _python(_JIT_TRAP.format(prefix=prefix, marker=marker, load=load),
                   env={"FLAGS_enable_pir_api": "0"})
    assert not marker.exists(), proc.stderr[-2000:]
    assert "UnsafeCheckpointError" in proc.stderr and "not a file" in proc.stderr, \
        proc.stderr[-2000:]


def test_guard_refuses_directory(tmp_path):
    import paddle

    from ppcls_ext.io import UnsafeCheckpointError, guard_paddle_load

    guard_paddle_load()
    (tmp_path / "d").mkdir()
    with pytest.raises(UnsafeCheckpointError, match="not a file"):
        paddle.load(str(tmp_path / "d"))


# ----------------------------------------------- stock backbones' Arch.pretrained (case 5)
@pytest.mark.parametrize("arch", ["ResNet18", "MobileNetV3_small_x0_35"])
def test_stock_backbone_pretrained_goes_through_the_scan(tmp_path, arch):
    """The wheel's ``load_dygraph_pretrain`` calls plain ``paddle.load``: guarded once the
    project is registered."""
    import ppcls_ext
    from ppcls_ext.io import UnsafeCheckpointError
    from ppcls_ext.registry import build_model

    ppcls_ext.register()
    marker = tmp_path / "pwned"
    _trap(tmp_path / "w.pdparams", marker)
    config = {"Global": {"device": "cpu"},
              "Arch": {"name": arch, "class_num": 3, "pretrained": str(tmp_path / "w")}}
    with pytest.raises(UnsafeCheckpointError, match="posix.system|os.system"):
        build_model(config)
    assert not marker.exists()


# --------------------------------------------------------------------- memory (case 9)
_CAPPED = """\
    import resource, sys
    import paddle
    from ppcls_ext.io import read_state_dict
    def vm():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize"))
    cap = vm() + (1 << 30)  # 1 GiB above what the process already maps
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        read_state_dict({path!r})
        print("LOADED")
    except MemoryError:
        print("ALLOCATED")
    except Exception as exc:
        print("REFUSED", type(exc).__name__, exc)
"""


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["shape", "shared", "slices"])
def test_memory_bombs_refused_before_allocation(tmp_path, kind):
    """92 bytes asking for a 3e9-element array; one 1 MiB array referenced 3000 times; a
    split parameter naming one piece 3000 times: refused by the scan, nothing allocated (an
    allocation would hit the 1 GiB cap and report ALLOCATED)."""
    path = tmp_path / "bomb.pdparams"
    if kind == "shape":
        obj = {"w": _Reduce(_reconstruct, (np.ndarray, (3_000_000_000,), b"b"))}
    elif kind == "shared":
        part = np.zeros(2 ** 18, "float32")
        obj = {"w": [part] * 3000}
    else:
        obj = {"w@@.0": np.zeros(2 ** 18, "float32"),
               "UnpackBigParamInfor@@": {"w": {"OriginShape": [3000 * 2 ** 18],
                                               "slices": ["w@@.0"] * 3000}}}
    path.write_bytes(pickle.dumps(obj, protocol=2))
    assert path.stat().st_size < 2 * 2 ** 20
    proc = _python(_CAPPED.format(path=str(path)))
    out = proc.stdout.strip().splitlines()
    assert out and out[-1].startswith("REFUSED UnsafeCheckpointError"), \
        (proc.stdout, proc.stderr[-1500:])
