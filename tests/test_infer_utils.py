"""ppcls_infer's shared timing loop and atomic result writing (used by both deploy predictors
and benchmarks/det_latency.py)."""
import json
import os

import pytest

from ppcls_infer import timing
from ppcls_infer.atomic import atomic_write, write_json


def test_measure_latency_warms_up_then_times_each_call(monkeypatch):
    calls = []
    clock = iter(range(100))  # perf_counter: 0, 1, 2, ... seconds
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    r = timing.measure_latency(lambda: calls.append(1), warmup=3, repeats=4)
    assert len(calls) == 7  # 3 untimed + 4 timed
    assert r == {"runs": 4, "mean_ms": 1000.0, "min_ms": 1000.0, "p50_ms": 1000.0,
                 "p90_ms": 1000.0, "p99_ms": 1000.0}


def test_measure_latency_percentiles(monkeypatch):
    ticks = iter([0, 1, 10, 12, 20, 23, 30, 34])  # calls of 1, 2, 3 and 4 seconds
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks))
    r = timing.measure_latency(lambda: None, warmup=0, repeats=4)
    assert r == {"runs": 4, "mean_ms": 2500.0, "min_ms": 1000.0, "p50_ms": 2500.0,
                 "p90_ms": pytest.approx(3700.0), "p99_ms": pytest.approx(3970.0)}
    with pytest.raises(ValueError, match="repeats >= 1"):
        timing.measure_latency(lambda: None, repeats=0)


def test_write_json_is_atomic_and_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "sub" / "det_results.json"
    write_json(str(target), {"results": [1]})
    assert json.loads(target.read_text()) == {"results": [1]}
    with pytest.raises(TypeError):
        write_json(str(target), {"results": object()})  # not JSON: nothing replaced
    assert json.loads(target.read_text()) == {"results": [1]}

    def failing(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        atomic_write(str(target), writer=failing)
    assert json.loads(target.read_text()) == {"results": [1]}
    assert os.listdir(target.parent) == ["det_results.json"]  # no temporary left


def test_atomic_write_replaces_a_symlink_not_its_target(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    link = tmp_path / "out.txt"
    link.symlink_to(victim)
    atomic_write(str(link), "new")
    assert victim.read_text() == "keep" and not link.is_symlink() and link.read_text() == "new"


def test_atomic_write_gives_the_permissions_a_plain_write_would(tmp_path):
    """mkstemp's temporaries are 0600: moved into place as they are, an exported model or a
    results file is unreadable to the other users of a shared folder."""
    import stat

    old = os.umask(0o022)
    try:
        fresh = atomic_write(str(tmp_path / "inference.onnx"), b"onnx")
        drawn = atomic_write(str(tmp_path / "a.png"),
                             writer=lambda tmp: open(tmp, "wb").write(b"png"))
        kept = tmp_path / "private.json"
        kept.write_text("{}")
        os.chmod(kept, 0o600)  # a file the user restricted stays restricted when replaced
        atomic_write(str(kept), "[]")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(drawn).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600 and kept.read_text() == "[]"
