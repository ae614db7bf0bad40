"""User mistakes raised by the library are ``UserError`` subclasses (one ``error:`` line from
the tools), while keeping the built-in type callers catch (FileNotFoundError, ValueError)."""
import os
import subprocess
import sys

import pytest

from ppcls_infer.cli import UserError, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK_START = os.path.join(ROOT, "configs", "quick_start", "EConvNeXt_mini_digits.yaml")


def _one_line(capsys, monkeypatch, func, *args):
    """The ``error:`` line ``run`` prints for ``func(*args)`` (exit status 2)."""
    monkeypatch.delenv("PPCLS_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exc:
        run(func, *args)
    err = capsys.readouterr().err.splitlines()
    assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_missing_weights_file_is_a_user_error(tmp_path, capsys, monkeypatch):
    from ppcls_ext.io import WeightsNotFoundError, resolve_weights_path

    missing = str(tmp_path / "best_model")
    with pytest.raises(WeightsNotFoundError) as exc:
        resolve_weights_path(missing)
    assert isinstance(exc.value, UserError) and isinstance(exc.value, FileNotFoundError)
    line = _one_line(capsys, monkeypatch, resolve_weights_path, missing)
    assert f"Weights file not found: '{missing}.pdparams' or '{missing}.safetensors'" in line


@pytest.mark.parametrize("suffix,payload,message", [
    (".pdparams", b"\x80\x04not a pickle", "the file is corrupt, truncated or not a Paddle"),
    (".safetensors", b"\x00" * 5, "not a valid safetensors"),
])
def test_corrupt_weights_file_is_a_user_error(tmp_path, capsys, monkeypatch, suffix, payload,
                                              message):
    from ppcls_ext.io import WeightsFileError, read_state_dict

    path = str(tmp_path / ("model" + suffix))
    with open(path, "wb") as f:
        f.write(payload)
    with pytest.raises(WeightsFileError) as exc:
        read_state_dict(path)
    assert isinstance(exc.value, UserError) and isinstance(exc.value, ValueError)
    assert message in _one_line(capsys, monkeypatch, read_state_dict, path)


def test_onnx_conversion_of_a_missing_export_names_the_file(tmp_path, capsys, monkeypatch):
    pytest.importorskip("paddle2onnx")
    from ppcls_ext.export import to_onnx
    from ppcls_ext.validation import MissingFileError

    with pytest.raises(MissingFileError):
        to_onnx(str(tmp_path))
    line = _one_line(capsys, monkeypatch, to_onnx, str(tmp_path))
    assert os.path.join(str(tmp_path), "inference.json") + " not found: export the model " \
        "first (tools/export_model.py)" in line


@pytest.mark.integration
def test_export_tool_bad_image_shape_is_one_line(tmp_path):
    """``tools/export_model.py -o Global.image_shape=[3,32]``: a ConfigError, one line."""
    cmd = [sys.executable, os.path.join(ROOT, "tools", "export_model.py"), "-c", QUICK_START,
           "-o", "Global.image_shape=[3,32]",
           "-o", f"Global.save_inference_dir={tmp_path / 'inference'}"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("PPCLS_DEBUG", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[-1] == ("error: -o Global.image_shape=[3,32]: Global.image_shape must be a "
                         "list of 3 integers >= 1 ([C, H, W]), got [3, 32] "
                         "(PPCLS_DEBUG=1 shows the traceback)")
