"""Configs from strangers are read as data: no code runs, aliases stay bounded, ``_BASE_``
stays in the tree (threat model in docs/security.md). Every payload touches a file in
tmp_path; each test asserts the file does not exist."""
import os
import textwrap
import time

import pytest
import yaml

from ppcls_infer import bounded_yaml


def _laughs(levels=9, width=10):
    """The billion-laughs document: ``width ** levels`` strings from a few hundred bytes."""
    lines = ['l0: &l0 [' + ", ".join(['"lol"'] * width) + ']']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _payload(marker):
    return f"!!python/object/apply:os.system ['touch {marker}']"


# ------------------------------------------------------------------- bounded YAML (case 11)
def test_bounded_yaml_refuses_billion_laughs_before_building():
    doc = _laughs()
    assert len(doc) < 1000
    tic = time.perf_counter()
    with pytest.raises(bounded_yaml.YAMLBombError, match="expands to more than"):
        bounded_yaml.safe_load(doc)
    assert time.perf_counter() - tic < 2.0  # refused from the node graph, nothing expanded


def test_bounded_yaml_refuses_self_referencing_alias():
    with pytest.raises(bounded_yaml.YAMLBombError, match="itself"):
        bounded_yaml.safe_load("a: &a [1, *a]\n")


def test_bounded_yaml_keeps_ordinary_aliases_and_counts_them_expanded():
    data = bounded_yaml.safe_load("base: &b {lr: 0.1, n: [1, 2]}\ncopy: *b\n")
    assert data == {"base": {"lr": 0.1, "n": [1, 2]}, "copy": {"lr": 0.1, "n": [1, 2]}}
    node = yaml.compose(_laughs(levels=3, width=3))
    # l0 = [3 strings] -> 4 nodes; l_i = [3 x l_(i-1)] -> 1 + 3 * size(l_(i-1));
    # plus the root mapping and its 4 keys
    sizes = [4]
    for _ in range(3):
        sizes.append(1 + 3 * sizes[-1])
    expected = 1 + 4 + sum(sizes)
    assert bounded_yaml.expanded_size(node) == expected


def test_bounded_yaml_refuses_python_tags(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(yaml.YAMLError):
        bounded_yaml.safe_load(f"x: {_payload(marker)}\n")
    assert not marker.exists()


# ------------------------------------------------------------ detection configs (case 3)
@pytest.fixture(scope="module")
def det_loader():
    import ppcls_ext.det

    ppcls_ext.det.install()  # what the detection tools do first
    from ppcls_ext.det import config_loader

    return config_loader


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.integration
@pytest.mark.parametrize("tag,value", [
    ("python/object", _payload("{marker}")),
    # ppdet's own ``!Callable`` imports and calls any function: not a config class
    ("Callable", "!Callable {{full_type: os.system, args: ['touch {marker}']}}"),
])
def test_det_config_code_tag_refused(det_loader, tmp_path, tag, value):
    marker = tmp_path / "pwned"
    cfg = _write(tmp_path / "configs" / "m.yml",
                 f"num_classes: 3\nx: {value.format(marker=marker)}\n")
    with pytest.raises(det_loader.DetConfigError, match=tag):
        det_loader.load_with_base(cfg)
    assert not marker.exists()


@pytest.mark.integration
def test_det_config_payload_in_base_file_refused(det_loader, tmp_path):
    marker = tmp_path / "pwned"
    _write(tmp_path / "configs" / "_base_" / "evil.yml", f"y: {_payload(marker)}\n")
    cfg = _write(tmp_path / "configs" / "m" / "m.yml", "_BASE_: ['../_base_/evil.yml']\n")
    with pytest.raises(det_loader.DetConfigError):
        det_loader.load_with_base(cfg)
    assert not marker.exists()


@pytest.mark.integration
@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_det_config_base_outside_tree_refused(det_loader, tmp_path, how):
    outside = _write(tmp_path / "elsewhere" / "base.yml", "epoch: 99\n")
    top = tmp_path / "proj" / "configs" / "m"
    if how == "absolute":
        ref = outside
    elif how == "dotdot":
        ref = "../../../elsewhere/base.yml"
    else:
        (tmp_path / "proj" / "configs").mkdir(parents=True)
        os.symlink(outside, tmp_path / "proj" / "configs" / "link.yml")
        ref = "../link.yml"
    cfg = _write(top / "m.yml", f"_BASE_: ['{ref}']\nnum_classes: 3\n")
    with pytest.raises(det_loader.DetConfigError, match="outside the config's tree"):
        det_loader.load_with_base(cfg)
    merged = det_loader.load_with_base(cfg, allow_base_outside=True)
    assert merged["epoch"] == 99 and merged["num_classes"] == 3


@pytest.mark.integration
def test_det_config_base_in_tree_and_own_classes_load(det_loader, tmp_path):
    """PaddleDetection's layout (``configs/<model>/x.yml`` including ``../datasets``) and
    a ``!Class`` tag of its own config classes still work."""
    _write(tmp_path / "configs" / "datasets" / "d.yml", "num_classes: 80\nepoch: 12\n")
    cfg = _write(tmp_path / "configs" / "yolo" / "m.yml", """\
        _BASE_: ['../datasets/d.yml']
        epoch: 36
        LearningRate:
          base_lr: 0.01
          schedulers:
          - !PiecewiseDecay {gamma: 0.1, milestones: [24, 33]}
          - !LinearWarmup {start_factor: 0.0, steps: 100}
        """)
    merged = det_loader.load_with_base(cfg)
    assert merged["num_classes"] == 80 and merged["epoch"] == 36
    decay, warmup = merged["LearningRate"]["schedulers"]
    assert type(decay).__name__ == "PiecewiseDecay" and decay.milestones == [24, 33]
    assert type(warmup).__name__ == "LinearWarmup" and warmup.steps == 100


@pytest.mark.integration
def test_det_config_project_configs_match_ppdet_reader(det_loader, repo_root):
    """Every shipped detection config reads the same as with PaddleDetection's reader."""
    import glob

    from ppcls_ext import det, patching
    from ppdet.core import workspace

    paths = sorted(glob.glob(os.path.join(repo_root, "configs", "detection", "**", "*.yml"),
                             recursive=True))
    assert paths
    patching.undo(next(n for n in patching.names() if n.endswith("safe_config")))
    try:
        original = workspace._load_config_with_base  # PaddleDetection's own (yaml.Loader)
        assert original.__module__ == "ppdet.core.workspace"
        for path in paths:
            assert det_loader.load_with_base(path) == original(path), path
    finally:
        det.install()


@pytest.mark.integration
def test_det_config_billion_laughs_refused(det_loader, tmp_path):
    cfg = _write(tmp_path / "m.yml", _laughs())
    with pytest.raises(det_loader.DetConfigError, match="expands to more than"):
        det_loader.load_with_base(cfg)


@pytest.mark.integration
def test_det_config_base_loop_refused(det_loader, tmp_path):
    _write(tmp_path / "a.yml", "_BASE_: ['b.yml']\n")
    cfg = _write(tmp_path / "b.yml", "_BASE_: ['a.yml']\n")
    with pytest.raises(det_loader.DetConfigError, match="loop"):
        det_loader.load_with_base(cfg)


# -------------------------------------------- classification config and -o values (11, 1)
def test_classification_config_billion_laughs_refused(tmp_path):
    from ppcls_ext.engine.config import ConfigError, load_config

    cfg = tmp_path / "bomb.yaml"
    cfg.write_text("Global: {epochs: 1}\nArch: {name: EConvNeXt_mini}\n" + _laughs())
    tic = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(str(cfg))
    assert time.perf_counter() - tic < 5.0


def test_override_value_billion_laughs_refused():
    from ppcls_infer.cli import OverrideError, parse_overrides

    doc = "{" + _laughs().strip().replace("\n", ", ") + "}"  # one flow-style line
    with pytest.raises(OverrideError, match="expands to more than"):
        parse_overrides([f"Global.x={doc}"])


@pytest.mark.parametrize("value", ["__import__('os').system('touch {m}')",
                                   "!!python/object/apply:os.system ['touch {m}']"])
def test_override_values_are_never_run(tmp_path, value):
    from ppcls_infer.cli import parse_overrides

    marker = tmp_path / "pwned"
    [(_, parsed)] = parse_overrides([f"Global.epochs={value.format(m=marker)}"])
    assert isinstance(parsed, str) and not marker.exists()
