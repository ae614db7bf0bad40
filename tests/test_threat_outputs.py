"""Outputs that cannot be turned against the user (threat model in docs/security.md): planted
symlinks are never written through, one training per output folder, a read-only or full
disk gives one line naming the path, a failed folder swap leaves the old folder whole."""
import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest

from ppcls_ext import outputs
from ppcls_ext.engine.recorder import Recorder

SECRET = "the user's own file\n"


def _plant(folder, name, target):
    """``folder/name`` -> symlink to ``target`` (a file of the user's outside the folder)."""
    os.makedirs(folder, exist_ok=True)
    target.write_text(SECRET)
    os.symlink(target, os.path.join(folder, name))


# ------------------------------------------------------------------------- symlinks (6)
def _history_written(out, rec):
    rec.epoch(2, {"loss": 0.5}, {"top1": 0.7})
    history = out / "history.json"
    assert not history.is_symlink() and json.loads(history.read_text())[1]["epoch"] == 2


def _curves_written(out, rec):
    path = rec.plot()
    assert not os.path.islink(path) and open(path, "rb").read(4) == b"\x89PNG"


@pytest.mark.parametrize("name,written", [
    ("history.json", _history_written), ("history.json.tmp", _history_written),
    ("curves.png", _curves_written), ("curves.png.tmp.png", _curves_written),
])
def test_recorder_files_never_written_through_symlink(tmp_path, name, written):
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    _plant(out, name, victim)
    rec = Recorder(str(out))
    rec.epoch(1, {"loss": 1.0}, {"top1": 0.5})
    written(out, rec)
    assert victim.read_text() == SECRET
    assert sorted(os.listdir(out)) == sorted({"history.json", "curves.png", name}
                                             if written is _curves_written
                                             else {"history.json", name})


def test_visualdl_folder_symlink_refused(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    os.symlink(elsewhere, out / "vdl")
    with pytest.raises(outputs.OutputError, match="vdl is a symlink"):
        Recorder(str(out), use_visualdl=True)
    assert os.listdir(elsewhere) == []


@pytest.mark.integration
def test_det_history_never_written_through_symlink(tmp_path):
    import ppcls_ext.det

    ppcls_ext.det.install()
    from ppcls_ext.det.history import EvalHistory, plot_history

    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    _plant(out, "history.json.tmp", victim)
    os.symlink(victim, out / "map.png")
    hist = EvalHistory.__new__(EvalHistory)
    hist.path, hist.records, hist._ips, hist._start = str(out / "history.json"), [], 1.0, 0.0
    hist._cpu_start = 0.0

    class _Metric:
        def get_results(self):
            return {"bbox": [0.25, 0.5]}
    hist.model = type("T", (), {"_metrics": [_Metric()]})()
    hist.on_epoch_end({"mode": "eval", "epoch_id": 0})
    plot_history(hist.path, str(out / "map.png"))
    assert victim.read_text() == SECRET
    assert json.loads((out / "history.json").read_text())[0]["mAP50"] == 0.5
    assert not (out / "map.png").is_symlink()


@pytest.mark.integration
def test_engine_refuses_train_log_symlink(tmp_path, data):
    from engine_helpers import QUICK_START, load, tiny_overrides
    from ppcls_ext.engine import Engine

    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    _plant(out / "EConvNeXt_mini", "train.log", victim)  # {output_dir}/{Arch.name}/train.log
    config = load(QUICK_START, tiny_overrides(data, str(out), epochs=1))
    with pytest.raises(outputs.OutputError, match="train.log is a symlink"):
        Engine(config, "train")
    assert victim.read_text() == SECRET


# ---------------------------------------------------------------------------- lock (7)
_HOLDER = textwrap.dedent("""\
    import sys, time
    sys.path.insert(0, {root!r})
    from ppcls_ext.outputs import OutputLock
    OutputLock({folder!r}).acquire()
    print("HELD", flush=True)
    time.sleep(60)
""")


def _hold(folder, repo_root):
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER.format(root=repo_root,
                                                                  folder=str(folder))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "HELD"
    return proc


def test_second_process_refused_with_one_line_naming_the_first(tmp_path, repo_root):
    holder = _hold(tmp_path / "run", repo_root)
    try:
        with pytest.raises(outputs.OutputBusyError) as err:
            outputs.OutputLock(str(tmp_path / "run")).acquire()
        message = str(err.value)
        assert "\n" not in message and f"pid {holder.pid}" in message
        assert "on host" in message and "started 20" in message
    finally:
        holder.kill()
        holder.wait()
    # the holder died: its lock is taken over, and the dead run's record is kept for the log
    lock = outputs.OutputLock(str(tmp_path / "run")).acquire()
    assert lock.previous["pid"] == holder.pid
    lock.release()


def test_stale_lock_file_of_a_dead_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text(json.dumps({"pid": 2 ** 22 + 7, "host": "h", "start": "x"}))
    with outputs.OutputLock(str(run)) as lock:
        assert json.loads((run / ".lock").read_text())["pid"] == os.getpid()
        assert lock.previous["pid"] == 2 ** 22 + 7


@pytest.mark.integration
def test_second_training_into_one_output_dir_refused_before_writing(tmp_path, data,
                                                                   repo_root):
    from engine_helpers import QUICK_START, load, tiny_overrides
    from ppcls_ext.engine import Engine

    out = tmp_path / "out"
    holder = _hold(out / "EConvNeXt_mini", repo_root)
    try:
        config = load(QUICK_START, tiny_overrides(data, str(out), epochs=1))
        with pytest.raises(outputs.OutputBusyError, match=f"pid {holder.pid}"):
            Engine(config, "train")
        assert not (out / "EConvNeXt_mini" / "train.log").exists()  # refused before logging
    finally:
        holder.kill()
        holder.wait()


# ------------------------------------------------------------- disk full / read-only (13)
def test_full_disk_gives_one_line_and_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "history.json"
    target.write_text("[1]")
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(outputs.OutputError) as err:
        outputs.write_json(str(target), [2])
    assert str(err.value) == f"cannot write {target}: the disk is full (errno {errno.ENOSPC})"
    assert target.read_text() == "[1]" and os.listdir(tmp_path) == ["history.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_gives_one_line(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(outputs.OutputError, match="permission denied"):
            outputs.write_json(str(folder / "history.json"), [])
    finally:
        folder.chmod(0o700)


def test_permission_denied_gives_one_line(tmp_path, monkeypatch):
    def mkstemp(**kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(outputs.tempfile, "mkstemp", mkstemp)
    with pytest.raises(outputs.OutputError) as err:
        outputs.write_json(str(tmp_path / "h.json"), [])
    assert str(err.value) == f"cannot write {tmp_path / 'h.json'}: permission denied " \
        f"(errno {errno.EACCES})"


def test_read_only_file_system_message():
    exc = OSError(errno.EROFS, "Read-only file system")
    assert outputs.describe_os_error(exc, "/x/y") == \
        f"cannot write /x/y: the file system is read-only (errno {errno.EROFS})"


# ---------------------------------------------------------------- folder swap (8)
def test_swap_in_folder_replaces_whole_and_failure_keeps_old(tmp_path, monkeypatch):
    target = tmp_path / "inference"
    target.mkdir()
    (target / "a").write_text("old a")
    (target / "b").write_text("old b")
    staged = outputs.staging_folder(str(target))
    (tmp_path / os.path.basename(staged) / "a").write_text("new a")
    outputs.swap_in_folder(staged, str(target))
    assert sorted(os.listdir(target)) == ["a"] and (target / "a").read_text() == "new a"
    assert sorted(os.listdir(tmp_path)) == ["inference"]


def test_swap_in_folder_without_renameat2(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "_exchange", lambda a, b: False)
    target = tmp_path / "inference"
    target.mkdir()
    (target / "a").write_text("old")
    staged = outputs.staging_folder(str(target))
    open(os.path.join(staged, "a"), "w").write("new")
    outputs.swap_in_folder(staged, str(target))
    assert (target / "a").read_text() == "new" and os.listdir(tmp_path) == ["inference"]


def test_swap_refuses_symlinked_target(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text(SECRET)
    os.symlink(elsewhere, tmp_path / "inference")
    staged = outputs.staging_folder(str(tmp_path / "inference"))
    with pytest.raises(outputs.OutputError, match="symlink"):
        outputs.swap_in_folder(staged, str(tmp_path / "inference"))
    assert (elsewhere / "keep").read_text() == SECRET


def test_checkpoint_save_never_writes_through_planted_temporaries(tmp_path):
    """``latest.pdparams.tmp<pid>`` / ``latest.commit.tmp<pid>`` planted as symlinks to the
    user's files: the save's recovery step removes them before writing."""
    import paddle

    from ppcls_ext.io.checkpoint import save_checkpoint

    out = tmp_path / "out"
    out.mkdir()
    victims = []
    for name in ("latest.pdparams", "latest.pdstates", "latest.commit"):
        victim = tmp_path / f"victim_{name}"
        victim.write_text(SECRET)
        victims.append(victim)
        os.symlink(victim, out / f"{name}.tmp{os.getpid()}")
    model = paddle.nn.Linear(2, 2)
    save_checkpoint(str(out), "latest", model, states={"epoch": 1})
    assert all(v.read_text() == SECRET for v in victims)
    assert not any(p.is_symlink() for p in out.iterdir())


# ------------------------------------------------------------ export all or nothing (8)
@pytest.mark.integration
def test_failed_export_leaves_previous_export_intact(tmp_path, monkeypatch):
    """Disk full while the new export is written (after inference.pdiparams, while writing
    inference.yml): the old export, ONNX included, is untouched and no partial folder stays.
    Then a successful export without ONNX replaces the folder whole: no stale
    inference.onnx of the older model survives beside the new weights."""
    import paddle

    from engine_helpers import QUICK_START, load
    from ppcls_ext import export as export_mod

    out = tmp_path / "inference"
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"{i} c{i}" for i in range(10)) + "\n")
    config = load(QUICK_START, [f"Global.save_inference_dir={out}", "Global.device=cpu",
                                f"Infer.PostProcess.class_id_map_file={labels}"])
    paddle.seed(1)
    export_mod.export(config, finish=lambda d: open(os.path.join(d, "inference.onnx"),
                                                    "wb").write(b"old onnx"))
    before = {p: (out / p).read_bytes() for p in sorted(os.listdir(out))}
    assert {"inference.json", "inference.pdiparams", "inference.yml",
            "inference.onnx"} <= set(before)

    import yaml

    def full_disk(*a, **k):  # ENOSPC while inference.yml is written
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(yaml, "safe_dump", full_disk)
    paddle.seed(2)
    with pytest.raises(outputs.OutputError, match="the disk is full"):
        export_mod.export(config)
    assert {p: (out / p).read_bytes() for p in sorted(os.listdir(out))} == before
    assert sorted(os.listdir(tmp_path)) == ["inference", "labels.txt"]

    monkeypatch.undo()
    export_mod.export(config)
    after = set(os.listdir(out))
    assert "inference.onnx" not in after and "image_shape" in (out / "inference.yml").read_text()
    assert (out / "inference.pdiparams").read_bytes() != before["inference.pdiparams"]
