"""Paddle pickles from strangers: the opcode scan (``ppcls_ext.pickle_scan``) refuses code,
arrays larger than the file's bytes and reference graphs that explode, without building any
of it (threat model in docs/security.md)."""
import io
import os
import pickle

import numpy as np
import paddle
import pytest

from ppcls_ext.io import pickle_scan
from ppcls_ext.io.pickle_scan import ScanCorrupt, ScanRefused, scan
from threat_helpers import Reduce as _Reduce

_reconstruct = np.core.multiarray._reconstruct


def _dumps(obj, protocol=4):
    return pickle.dumps(obj, protocol=protocol)


@pytest.fixture(scope="module")
def paddle_files():
    """Every kind of file paddle.save writes here, in protocols 2, 3 and 4."""
    model = paddle.nn.Sequential(paddle.nn.Linear(3, 4), paddle.nn.LayerNorm(4))
    opt = paddle.optimizer.AdamW(parameters=model.parameters(),
                                 learning_rate=paddle.optimizer.lr.CosineAnnealingDecay(0.1, 5))
    model(paddle.ones([2, 3])).sum().backward()
    opt.step()
    objs = {"pdparams": model.state_dict(), "pdopt": opt.state_dict(),
            "pdopt_list": [opt.state_dict()],
            "pdstates": {"epoch": 3, "best_metric": np.float32(0.5), "step": np.int64(9),
                         "t": paddle.ones([2]), "lr": {"last_epoch": 3, "last_lr": 0.1}}}
    out = {}
    for name, obj in objs.items():
        for protocol in (2, 3, 4):
            buf = io.BytesIO()
            paddle.save(obj, buf, protocol=protocol)
            out[f"{name}-p{protocol}"] = buf.getvalue()
    return out


def test_every_paddle_save_file_passes(paddle_files):
    for name, data in paddle_files.items():
        values, array_bytes = scan(data, name)
        assert values > 1 and array_bytes <= len(data), name


def test_split_big_parameter_written_by_paddle_passes():
    """Paddle's own >4 GB split (protocol 2/3): each piece named once."""
    from paddle.framework.io_utils import _unpack_saved_dict

    big = {"w": np.arange(40, dtype="float32")}
    import paddle.framework.io_utils as iu

    saved = iu.MAX_NUMBER_OF_ELEMENT if hasattr(iu, "MAX_NUMBER_OF_ELEMENT") else None
    try:
        if saved is not None:
            iu.MAX_NUMBER_OF_ELEMENT = 16
        split = _unpack_saved_dict(big, 2)
    finally:
        if saved is not None:
            iu.MAX_NUMBER_OF_ELEMENT = saved
    data = _dumps(split, 2)
    scan(data)


# ------------------------------------------------------------------ code (case 4/5 base)
def test_global_outside_allow_list_refused(tmp_path):
    marker = tmp_path / "pwned"
    data = _dumps({"w": _Reduce(os.system, (f"touch {marker}",))})
    with pytest.raises(ScanRefused, match="posix.system|os.system"):
        scan(data, "evil.pdparams")
    assert not marker.exists()


def test_persistent_ids_and_other_opcodes_refused():
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return "x" if obj == "ref" else None
    buf = io.BytesIO()
    P(buf, protocol=4).dump({"w": "ref"})
    with pytest.raises(ScanRefused, match="BINPERSID"):
        scan(buf.getvalue())
    with pytest.raises(ScanRefused, match="EMPTY_SET|FROZENSET"):
        scan(_dumps({"w": {1, 2}}))


# -------------------------------------------------------------------- memory (case 9)
def test_reconstruct_with_a_huge_shape_refused_from_92_bytes():
    """_reconstruct(ndarray, (3e9,), b'b') makes a 3 GB array: refused from the opcodes."""
    data = _dumps({"w": _Reduce(_reconstruct, (np.ndarray, (3_000_000_000,), b"b"))}, 2)
    assert len(data) < 140
    with pytest.raises(ScanRefused, match="shape instead of from the file's bytes"):
        scan(data)


def test_ndarray_called_directly_refused():
    data = _dumps({"w": _Reduce(np.ndarray, ((3_000_000_000,), "f4"))})
    with pytest.raises(ScanRefused, match="numpy.ndarray|not an allowed"):
        scan(data)


def test_array_state_larger_than_its_bytes_refused():
    state = (1, (3_000_000_000,), np.dtype("f4"), False, b"1234")
    data = _dumps({"w": _Reduce(_reconstruct, (np.ndarray, (0,), b"b"), state)})
    with pytest.raises(ScanRefused, match="12000000000 bytes backed by 4 bytes"):
        scan(data)


def test_object_and_structured_dtypes_refused():
    with pytest.raises(ScanRefused, match="dtype"):
        scan(_dumps({"w": np.array([1, "a"], dtype=object)}))
    with pytest.raises(ScanRefused, match="dtype"):
        scan(_dumps({"w": np.zeros(2, dtype=[("a", "f4")])}))


def test_one_array_referenced_500_times_refused():
    part = np.zeros(2 ** 18, "float32")  # 1 MiB
    data = _dumps({"w": [part] * 500})
    assert len(data) < 2 * 2 ** 20
    with pytest.raises(ScanRefused, match="expand to more than"):
        scan(data)


def test_nested_shared_lists_refused():
    node = [0]
    for _ in range(40):
        node = [node, node]
    data = _dumps({"w": node})
    assert len(data) < 1000
    with pytest.raises(ScanRefused, match="expand to more than"):
        scan(data)


def test_cycle_refused():
    loop = []
    loop.append(loop)
    with pytest.raises(ScanRefused, match="a cycle"):
        scan(_dumps({"w": loop}))


def test_split_parameter_naming_one_piece_500_times_refused():
    """A 1 KB file whose UnpackBigParamInfor@@ lists one piece 500 times (Paddle would
    np.concatenate 500 copies)."""
    obj = {"w@@.0": np.zeros(4, "float32"),
           "UnpackBigParamInfor@@": {"w": {"OriginShape": [2000], "slices": ["w@@.0"] * 500}}}
    data = _dumps(obj, 2)
    with pytest.raises(ScanRefused, match="names the piece 'w@@.0' twice"):
        scan(data)


@pytest.mark.parametrize("cut", [1, 10, 50])
def test_truncated_file_is_corrupt_not_refused(paddle_files, cut):
    data = paddle_files["pdparams-p4"]
    with pytest.raises(ScanCorrupt):
        scan(data[:-cut])


def test_scan_builds_no_array(paddle_files, monkeypatch):
    """The scan materialises nothing: numpy's constructors are never called."""
    def boom(*a, **k):
        raise AssertionError("an array was built")
    monkeypatch.setattr(np.core.multiarray, "_reconstruct", boom)
    monkeypatch.setattr(pickle_scan, "math", __import__("math"))
    scan(paddle_files["pdparams-p4"])


@pytest.mark.integration
def test_ppdet_decode_cache_pickle_cannot_run_code(tmp_path):
    import ppcls_ext.det

    ppcls_ext.det.install()
    from ppdet.data.transform.operators import DecodeCache

    marker = tmp_path / "pwned"
    trap = tmp_path / "img.jpg.pkl"
    trap.write_bytes(_dumps(_Reduce(os.system, (f"touch {marker}",))))
    with pytest.raises(ScanRefused):
        DecodeCache.load(str(trap))
    assert not marker.exists()
    good = tmp_path / "ok.pkl"
    good.write_bytes(_dumps(np.arange(12, dtype="uint8").reshape(2, 2, 3)))
    assert DecodeCache.load(str(good)).shape == (2, 2, 3)
