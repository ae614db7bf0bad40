"""A few PP-YOLOE + E-ConvNeXt-mini iterations on a tiny COCO set through the tools' command
lines, then evaluation, drawn predictions, export and the exported model against dygraph."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.integration  # detection: trains, exports, runs the tools

pytest.importorskip("ppdet")

from det_helpers import NMS, TOOLS, make_tiny_coco, run_det_tool, tiny_config  # noqa: E402


def _run_tool(monkeypatch, name, *argv):
    return run_det_tool(name, *argv)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two epochs (ATSS then task-aligned assigner), evaluated after each, by the real CLI."""
    tmp = tmp_path_factory.mktemp("det_train")
    data = make_tiny_coco(str(tmp / "data"))
    cfg = tiny_config(tmp, data, epochs=1, extra=NMS + f"pretrain_weights: {tmp}/no/best_model\n")
    # the file names a wrong data folder and save_dir and 1 epoch: the run below produces what
    # the tests expect only if every repeated -o applies (tools/det kept only the last one)
    with open(cfg) as f:
        text = f.read()
    os.makedirs(tmp / "wrong")  # the same file name: PaddleDetection's output folder is its stem
    wrong = str(tmp / "wrong" / os.path.basename(cfg))
    with open(wrong, "w") as f:
        f.write(text.replace(f"dataset_dir: {data}", f"dataset_dir: {tmp}/nowhere")
                .replace(f"save_dir: {tmp}/output", f"save_dir: {tmp}/elsewhere"))
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, "train.py"), "-c", wrong, "--eval",
                           "-o", "use_gpu=false", "-o", "epoch=2", "-o", "TrainReader.batch_size=2",
                           "-o", f"save_dir={tmp}/output", "-o", f"TrainDataset.dataset_dir={data}",
                           "-o", f"EvalDataset.dataset_dir={data}",
                           f"TestDataset.dataset_dir={data}"],  # PaddleDetection's form too
                          capture_output=True, text=True, timeout=300, cwd=str(tmp))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp, data, cfg, proc.stdout + proc.stderr


def test_training_writes_checkpoints_history_and_one_warning(trained):
    tmp, _, _, log = trained
    out = tmp / "output" / "tiny"
    # PaddleDetection names the last epoch model_final instead of its number
    for name in ("0.pdparams", "model_final.pdparams", "model_final.pdopt",
                 "best_model.pdparams", "bbox.json"):
        assert (out / name).is_file(), name
    assert log.count("pretrain_weights") == 1 and "does not exist (yet)" in log
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 2  # one COCO evaluation per epoch
    assert "loss_iou" in log, log[-2000:]
    assert not (tmp / "bbox.json").exists()  # nothing littered in the working directory


def test_eval_prints_coco_map(trained, monkeypatch, capfd):
    tmp, _, cfg, _ = trained
    _run_tool(monkeypatch, "eval", "-c", cfg, "-o", f"weights={tmp}/output/tiny/model_final")
    out = capfd.readouterr().out
    assert "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]" in out
    assert (tmp / "output" / "tiny" / "bbox.json").is_file()


def test_infer_draws_boxes(trained, monkeypatch):
    tmp, data, cfg, _ = trained
    out = tmp / "vis"
    written = _run_tool(monkeypatch, "infer", "-c", cfg, "-o",
                        f"weights={tmp}/output/tiny/model_final", "--infer_img",
                        os.path.join(data, "images", "val_0.png"), "--output_dir", str(out),
                        "--draw_threshold", "0.0")
    import cv2
    drawn = cv2.imread(written[0])
    source = cv2.imread(os.path.join(data, "images", "val_0.png"))
    assert drawn.shape == source.shape and (drawn != source).any()


def test_export_runs_in_paddle_inference_like_dygraph(trained, monkeypatch):
    import paddle
    from paddle.inference import Config, create_predictor

    tmp, data, cfg, _ = trained
    model_dir = _run_tool(monkeypatch, "export_model", "-c", cfg, "-o",
                          f"weights={tmp}/output/tiny/model_final", "--output_dir",
                          str(tmp / "inference"))
    assert os.path.isfile(os.path.join(model_dir, "model.json"))  # PIR program
    assert os.path.isfile(os.path.join(model_dir, "infer_cfg.yml"))
    rng = np.random.default_rng(0)
    feeds = dict(image=rng.standard_normal((1, 3, 96, 96)).astype("float32"),
                 scale_factor=np.array([[1.0, 2.0]], "float32"),
                 im_shape=np.array([[96.0, 96.0]], "float32"))
    results = []
    for onednn in (False, True):  # oneDNN works thanks to compat's pan_upsample
        config = Config(os.path.join(model_dir, "model.json"),
                        os.path.join(model_dir, "model.pdiparams"))
        config.disable_gpu()
        if onednn:
            config.enable_mkldnn()
        else:
            config.disable_mkldnn()
        config.disable_glog_info()
        predictor = create_predictor(config)
        # PaddleDetection's two inputs (what PaddleX feeds a PP-YOLOE): the clip to the image
        # uses the input's own H, W (ppcls_ext.det.postprocess)
        assert sorted(predictor.get_input_names()) == ["image", "scale_factor"]
        for name in predictor.get_input_names():
            predictor.get_input_handle(name).copy_from_cpu(feeds[name])
        predictor.run()
        results.append([predictor.get_output_handle(n).copy_to_cpu()
                        for n in predictor.get_output_names()])

    import ppcls_ext.det
    ppcls_ext.det.install()
    from ppdet.core.workspace import create, load_config
    c = load_config(cfg)
    model = create(c.architecture)
    model.set_state_dict(paddle.load(f"{tmp}/output/tiny/model_final.pdparams"))
    model.eval()
    ref = model({k: paddle.to_tensor(v) for k, v in feeds.items()})
    for bbox, bbox_num in results:
        assert bbox.shape[1] == 6 and int(bbox_num[0]) == int(ref["bbox_num"][0]) > 0  # NMS in
        np.testing.assert_allclose(bbox, ref["bbox"].numpy(), rtol=1e-4, atol=1e-3)


def test_gpu_on_cpu_paddle_is_one_line(monkeypatch, capsys, tmp_path):
    import paddle
    if paddle.is_compiled_with_cuda():
        pytest.skip("this Paddle has CUDA")
    from ppcls_ext.det import commands
    from ppcls_infer.cli import run
    with pytest.raises(SystemExit) as exc:
        run(commands.select_cfg_device, {"use_gpu": True})
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1
    assert err[0].startswith("error: use_gpu asks for the GPU") and "-o use_gpu=false" in err[0]


def test_missing_weights_and_config_are_one_line(monkeypatch, capsys, trained):
    tmp, _, cfg, _ = trained
    for argv in (["-c", str(tmp / "nope.yml")],
                 ["-c", cfg, "-o", f"weights={tmp}/nothing/here"],
                 ["-c", cfg, "-o", "num_classes=0"]):
        from ppcls_ext.det import commands
        with pytest.raises(SystemExit) as exc:
            commands.evaluate(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and err[0].startswith("error: ")



@pytest.mark.parametrize("tool,argv", [("eval", ["-o", "weights={trap}"]),
                                       ("train", ["-r", "{trap}"])])
def test_trapped_weights_never_run_their_payload(trained, tmp_path, tool, argv):
    """PaddleDetection loads ``weights``/``-r``/``pretrain_weights`` with ``paddle.load``
    itself: the det tools route every such load through the project's allow-list too."""
    from weights_helpers import write_trap

    tmp, _, cfg, _ = trained
    marker = tmp_path / "PWNED"
    write_trap(tmp_path / "evil.pdparams", marker)
    argv = [a.format(trap=tmp_path / "evil") for a in argv]
    proc = subprocess.run([sys.executable, os.path.join(TOOLS, f"{tool}.py"), "-c", cfg, *argv],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp))
    assert not marker.exists(), "the booby-trapped pickle ran its payload"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "evil.pdparams" in errors[0], \
        proc.stderr[-2000:]
