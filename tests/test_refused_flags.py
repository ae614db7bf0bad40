"""PaddleClas's and PaddleDetection's command-line flags that the tools do not implement are
refused with their reason (not argparse's bare "unrecognized arguments"), and the ones they
implement still parse."""
import pytest

from ppcls_ext import commands
from ppcls_ext.det import commands as det_commands
from ppcls_infer.refused_flags import CLASSIFICATION, DEPLOY_DETECTION, DETECTION

DET_PARSERS = {"train": det_commands.train_parser, "eval": det_commands.eval_parser,
               "infer": det_commands.infer_parser, "export": det_commands.export_parser}


def _error(parser, argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("tool, flag", [(t, f) for t, flags in DETECTION.items() for f in flags])
def test_paddledetection_flag_is_refused_with_its_reason(tool, flag, capsys):
    # as a switch and with a value: either way the flag is named with the reason
    for argv in ([flag], [flag, "value"]):
        line = _error(DET_PARSERS[tool](), ["-c", "cfg.yml", *argv], capsys)
        assert line.endswith(f"error: {flag} is not supported: {DETECTION[tool][flag]}")


def test_slim_config_names_the_alternative(capsys):
    line = _error(det_commands.train_parser(), ["-c", "x.yml", "--slim_config", "q.yml"], capsys)
    assert "--slim_config is not supported" in line and "tools/quant_post.py" in line


@pytest.mark.parametrize("tool, argv", [
    ("train", ["--eval", "-r", "ck", "--amp", "--use_vdl", "true", "--save_prediction_only"]),
    ("eval", ["--classwise", "--json_eval", "--output_eval", "d", "--bias"]),
    ("infer", ["--infer_img", "a.png", "--draw_threshold", "0.3", "--save_results", "true"]),
    ("export", ["--output_dir", "out"]),
])
def test_implemented_paddledetection_flags_still_parse(tool, argv):
    flags = DET_PARSERS[tool]().parse_args(["-c", "cfg.yml", *argv])
    assert flags.config == "cfg.yml"
    assert not any(f.lstrip("-") in vars(flags) for f in DETECTION[tool])


@pytest.mark.parametrize("flag", ["-p", "--profiler_options"])
def test_paddleclas_profiler_flag_is_refused_by_this_engine(flag, capsys, monkeypatch):
    monkeypatch.delenv("PADDLECLAS_ROOT", raising=False)
    reason = CLASSIFICATION["-p/--profiler_options"]
    for make in (lambda: commands._parser("t", profiler=True), lambda: commands._parser("e")):
        line = _error(make(), ["-c", "cfg.yaml", flag, "batch_range=[10,20]"], capsys)
        assert line.endswith(f"error: {flag} is not supported: {reason}")


def test_paddleclas_profiler_flag_goes_to_paddleclas_engine(monkeypatch, tmp_path):
    monkeypatch.setenv("PADDLECLAS_ROOT", str(tmp_path))  # read at parse time only
    args = commands._parser("t", profiler=True).parse_args(
        ["-c", "cfg.yaml", "-p", "batch_range=[10,20]"])
    assert args.profiler_options == "batch_range=[10,20]"


def _predict_det():
    import sys

    from deploy_helpers import DEPLOY_PY
    if DEPLOY_PY not in sys.path:
        sys.path.insert(0, DEPLOY_PY)
    import predict_det

    return predict_det


@pytest.mark.parametrize("flag", sorted(DEPLOY_DETECTION))
def test_paddledetection_deploy_flag_is_refused_by_predict_det(flag, capsys):
    line = _error_of(lambda: _predict_det().main(["--model_dir", "m", flag, "1"]), capsys)
    assert line.endswith(f"error: {flag} is not supported: {DEPLOY_DETECTION[flag]}")


@pytest.mark.parametrize("argv, expected", [
    (["--run_mode", "trt_fp16"], "--run_mode trt_fp16 is not supported: only paddle; TensorRT "
                                 "(trt_fp32/trt_fp16/trt_int8) is not wired into the detection "
                                 "predictor"),
    (["--batch_size", "8"], "--batch_size 8 is not supported: images are predicted one at a "
                            "time (give --batch_size 1 or leave it out)"),
    (["--device", "XPU"], "argument --device: invalid choice: 'XPU' (choose from 'CPU', 'GPU')"),
    (["--save_images", "maybe"], "argument --save_images: expected True or False, got 'maybe'"),
])
def test_predict_det_paddledetection_flags_out_of_range(argv, expected, capsys):
    line = _error_of(lambda: _predict_det().main(["--model_dir", "m", *argv]), capsys)
    assert line.endswith("error: " + expected), line


def _error_of(call, capsys):
    with pytest.raises(SystemExit) as exit_:
        call()
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]
