"""tools/det/flops.py: PaddleDetection's GFLOPs convention and the paper's figures.

Only the two small detectors are measured here (the L rows take minutes on this CPU); the
full table is ``python tools/det/flops.py`` and is copied into docs/detection.md.
"""
import importlib.util
import os

import pytest

pytestmark = pytest.mark.integration  # detection

pytest.importorskip("ppdet")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("det_flops", os.path.join(ROOT, "tools", "det",
                                                                       "flops.py"))
flops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(flops)
DOCS = open(os.path.join(ROOT, "docs", "detection.md"), encoding="utf-8").read()


def test_stock_ppyoloe_s_matches_paddledetection_published():
    total, backbone = flops.detector_gmacs(flops.build_detector("ppyoloe_crn_s_36e_coco.yml", 80))
    gflops = 2 * total
    assert abs(gflops - 17.36) / 17.36 < 0.03, gflops  # PaddleDetection's model zoo figure
    assert f"{gflops:.2f}" in DOCS and f"{backbone:.2f}" in DOCS


def test_mini_s_matches_the_paper_at_608_with_duo_classes():
    model = flops.build_detector("ppyoloe_s_econvnext_mini_36e_coco.yml", 4)
    at_608, _ = flops.detector_gmacs(model, 608)
    assert abs(2 * at_608 - 20.56) / 20.56 < 0.005, 2 * at_608
    at_640, backbone = flops.detector_gmacs(model, 640)
    assert 2 * at_640 > 20.56 * 1.08  # at 640 it is ~11% above the paper: not the paper's size
    assert abs(backbone - 7.59) < 0.01  # E-ConvNeXt-mini at 640 (SPEC: 7.59 GMACs)
    for value in (2 * at_608, 2 * at_640):
        assert f"{value:.2f}" in DOCS


def test_format_table_reports_difference_to_paper():
    table = [dict(label="x", config="c.yml", backbone_gmacs=1.0, gflops_80=21.0, gflops_n=20.0,
                  paper=20.0)]
    text = flops.format_table(table, 4, 640)
    assert "| x (`c.yml`) | 1.00 | 21.00 | 20.00 | 20.0 | +0.0% |" in text


def test_yolov10_rows_and_table_format():
    # the YOLOv10 rows are measured by tests/test_det_yolov10_config.py; here: the table the
    # tool prints and the rows it measures (each at its data set's class count)
    assert [(r[1], r[2], r[3]) for r in flops.YOLOV10_ROWS] == [
        ("yolov10_m_econvnext_tiny_36e_coco.yml", 8, 69.9),
        ("yolov10_l_econvnext_tiny_36e_coco.yml", 4, 78.0),
        ("yolov10_m_convnext_tiny_36e_coco.yml", 8, 94.3),
        ("yolov10_l_36e_coco.yml", 4, 120.0)]
    table = [dict(label="y", config="y.yml", classes=8, backbone_gmacs=16.69, gflops=69.94,
                  paper=69.9)]
    text = flops.format_yolov10_table(table, 640)
    assert "| y (`y.yml`) | 8 | 16.69 | 69.94 | 69.9 | +0.06% |" in text
    for gflops in ("69.94", "78.00", "94.34", "120.41"):
        assert f"| {gflops} |" in DOCS  # docs/detection.md has the tool's YOLOv10 table
