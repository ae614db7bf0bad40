"""tools/det/quick_start.sh: its own options (--arch, --preset) are checked before anything
runs, with one error line naming the valid values."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tools", "det", "quick_start.sh")


@pytest.mark.integration
@pytest.mark.parametrize("args,message", [
    (["--arch", "yolov9"], "error: --arch yolov9 is not known; valid: ppyoloe, yolov10"),
    (["--preset", "huge"], "error: --preset huge is not known; valid: default, large, dense, "
                           "mixed"),
    (["--arch=yolov10", "--preset=tiny"], "error: --preset tiny is not known"),
])
def test_unknown_arch_or_preset_is_one_error_line(args, message, tmp_path):
    run = subprocess.run(["bash", SCRIPT] + args, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().startswith(message) and len(run.stderr.strip().splitlines()) == 1
    assert not os.path.exists(os.path.join(ROOT, "dataset", "digits_det_tiny"))
