"""Every tool's entry point with a trapped override and a trapped config: nothing runs, one
error line (threat model in docs/security.md). Each payload touches its own file in tmp_path;
the tests assert none exists. Runs the real command lines (two at a time)."""
import concurrent.futures
import os
import subprocess
import sys
import textwrap

import pytest

from engine_helpers import QUICK_START, ROOT, make_splits, tiny_overrides

DET_CONFIG = os.path.join(ROOT, "configs", "detection", "quick_start",
                          "ppyoloe_s_econvnext_mini_digits.yml")
CLS_TOOLS = {"train": [], "eval": [], "infer": [], "export_model": [],
             "quant_post": ["--synthetic_calib", "--calib_num", "2"]}
DET_TOOLS = {"train": [], "eval": [], "infer": ["--infer_img", "x.png"], "export_model": []}


def _run(argv):
    env = dict(os.environ, PYTHONPATH=ROOT, PPCLS_DEBUG="")
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)
    return proc


def _expr(marker):
    return f"__import__('os').system('touch {marker}')"


def _yaml_tag(marker):
    return f"!!python/object/apply:os.system ['touch {marker}']"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    return make_splits(root, 8, 4)


def _cls_cases(tmp, data):
    """(name, argv, markers) for the classification tools."""
    cases = []
    base = tiny_overrides(data, os.path.join(tmp, "out"), epochs=1)
    trapped_cfg = os.path.join(tmp, "trapped.yaml")
    with open(QUICK_START) as f:
        text = f.read()
    marker_cfg = os.path.join(tmp, "cfg_tag")
    with open(trapped_cfg, "w") as f:
        f.write(text.replace("epochs: 10", f"epochs: {_yaml_tag(marker_cfg)}"))
    arch_cfg = os.path.join(tmp, "arch.yaml")
    marker_arch = os.path.join(tmp, "arch_eval")
    with open(arch_cfg, "w") as f:
        f.write(text.replace("  name: EConvNeXt_mini\n  class_num: 10\n",
                             "  name: RecModel\n  Backbone:\n    name: \"" +
                             _expr(marker_arch).replace('"', '\\"') + " or EConvNeXt_mini\"\n"
                             "  Head: {name: FC, embedding_size: 0, class_num: 3}\n"))
    for tool, extra in CLS_TOOLS.items():
        script = os.path.join("tools", f"{tool}.py")
        marker = os.path.join(tmp, f"{tool}_value")
        argv = [script, "-c", QUICK_START, *extra]
        for o in base + [f"Global.epochs={_expr(marker)}"]:
            argv += ["-o", o]
        cases.append((f"{tool}: -o value", argv, [marker]))
        marker_unknown = os.path.join(tmp, f"{tool}_unknown")
        argv = [script, "-c", QUICK_START, *extra, "-o", f"Nope.key={_expr(marker_unknown)}"]
        cases.append((f"{tool}: -o unknown key first", argv, [marker_unknown]))
        argv = [script, "-c", trapped_cfg, *extra]
        for o in base:
            argv += ["-o", o]
        cases.append((f"{tool}: config python tag", argv, [marker_cfg]))
        if tool != "quant_post":
            argv = [script, "-c", arch_cfg, *extra]
            for o in base:
                argv += ["-o", o]
            cases.append((f"{tool}: config Arch name", argv, [marker_arch]))
    return cases


def _det_cases(tmp):
    cases = []
    evil_base = os.path.join(tmp, "elsewhere", "base.yml")
    os.makedirs(os.path.dirname(evil_base), exist_ok=True)
    marker_base = os.path.join(tmp, "det_base")
    with open(evil_base, "w") as f:
        f.write(f"epoch: {_yaml_tag(marker_base)}\n")
    trapped = os.path.join(tmp, "det", "trapped.yml")
    os.makedirs(os.path.dirname(trapped), exist_ok=True)
    marker_cfg = os.path.join(tmp, "det_cfg")
    with open(trapped, "w") as f:
        f.write(textwrap.dedent(f"""\
            _BASE_: ['{DET_CONFIG}']
            log_iter: {_yaml_tag(marker_cfg)}
            """))
    outside = os.path.join(tmp, "det", "outside.yml")
    with open(outside, "w") as f:
        f.write(f"_BASE_: ['{DET_CONFIG}', '{evil_base}']\n")
    for tool, extra in DET_TOOLS.items():
        script = os.path.join("tools", "det", f"{tool}.py")
        m1, m2 = os.path.join(tmp, f"det_{tool}_value"), os.path.join(tmp, f"det_{tool}_tag")
        cases.append((f"det {tool}: -o python expression",
                      [script, "-c", DET_CONFIG, *extra, "-o", f"epoch={_expr(m1)}"], [m1]))
        cases.append((f"det {tool}: -o yaml python tag",
                      [script, "-c", DET_CONFIG, *extra, "-o", f"epoch={_yaml_tag(m2)}"], [m2]))
        cases.append((f"det {tool}: config python tag", [script, "-c", trapped, *extra],
                      [marker_cfg]))
        cases.append((f"det {tool}: _BASE_ outside the tree", [script, "-c", outside, *extra],
                      [marker_base]))
    return cases


# one case of each kind, on different tools (the full matrix runs with --runslow)
SAMPLE = {"train: -o value", "eval: -o unknown key first", "train: config python tag",
          "export_model: config Arch name", "det infer: -o yaml python tag",
          "det train: config python tag", "det eval: _BASE_ outside the tree"}


def _walk(tmp, tiny, only=None):
    cases = _cls_cases(tmp, tiny) + _det_cases(tmp)
    if only is not None:
        cases = [c for c in cases if c[0] in only]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: (c, _run(c[1])), cases))
    failures = []
    for (name, argv, markers), proc in results:
        ran = [m for m in markers if os.path.exists(m)]
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        if ran or proc.returncode == 0 or not lines or "Traceback" in proc.stderr:
            failures.append(f"{name}: exit {proc.returncode}, payload ran: {bool(ran)}, "
                            f"stderr tail: {proc.stderr[-300:]!r}")
        print(f"ATTACK {name}: exit {proc.returncode}, payload ran: {bool(ran)}: "
              f"{lines[-1][:160] if lines else proc.stderr[-160:]!r}")
    print(f"ATTACKS tried {len(cases)}, code executed {len(failures)}")
    assert not failures, "\n".join(failures)
    return len(cases)


@pytest.mark.integration
def test_tools_refuse_trapped_overrides_and_configs_sample(tmp_path, tiny):
    assert _walk(str(tmp_path), tiny, SAMPLE) == len(SAMPLE)


@pytest.mark.integration
@pytest.mark.slow
def test_every_tool_refuses_trapped_overrides_and_configs(tmp_path, tiny):
    _walk(str(tmp_path), tiny)
