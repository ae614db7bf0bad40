"""GFLOPs of the PP-YOLOE and YOLOv10 detectors at 640x640, as PaddleDetection publishes them.

    python tools/det/flops.py [--num_classes 4] [--size 640] [--mini_size 608] [--no_yolov10]

PaddleDetection's model-zoo GFLOPs are 2 x the multiply-accumulates that ``paddle.flops``
counts for backbone + neck + head at 640x640 with COCO's 80 classes (stock PP-YOLOE-S:
8.85 GMACs here -> 17.7, published 17.36). Box decoding and NMS are not counted. The table
gives each detector at 80 classes (the zoo convention) and at ``--num_classes`` (default 4:
the paper's DUO set), next to the figure the paper prints. The YOLOv10 rows follow in a second
table at the class count of the paper's data set for that row (8 for the sonar set, 4 for
DUO), counting the one-to-one head only (what runs at inference). The counting itself is
``ppcls_ext.det.flops.detector_gmacs``.
"""
import argparse
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG_DIR = os.path.join(ROOT, "configs", "detection")

# (label, config, the paper's GFLOPs or None). The paper's stock rows are PaddleDetection's
# published figures (17.36 for S; 110.07 for L, printed 110.7 in the paper).
ROWS = [
    ("PP-YOLOE-S (CSPResNet-S)", "ppyoloe_crn_s_36e_coco.yml", 17.4),
    ("PP-YOLOE-S + E-ConvNeXt-mini", "ppyoloe_s_econvnext_mini_36e_coco.yml", 20.56),
    ("PP-YOLOE-M + E-ConvNeXt-mini (authors' config)", "ppyoloe_m_econvnext_mini_36e_coco.yml",
     None),
    ("PP-YOLOE-L (CSPResNet-L)", "ppyoloe_crn_l_36e_coco.yml", 110.7),
    ("PP-YOLOE-L + E-ConvNeXt-tiny", "ppyoloe_l_econvnext_tiny_36e_coco.yml", 82.6),
]

# (label, config, the class count of the paper's data set for the row, the paper's GFLOPs)
YOLOV10_ROWS = [
    ("YOLOv10-M + E-ConvNeXt-tiny (sonar)", "yolov10_m_econvnext_tiny_36e_coco.yml", 8, 69.9),
    ("YOLOv10-L + E-ConvNeXt-tiny (DUO)", "yolov10_l_econvnext_tiny_36e_coco.yml", 4, 78.0),
    ("YOLOv10-M + ConvNeXt-tiny (sonar)", "yolov10_m_convnext_tiny_36e_coco.yml", 8, 94.3),
    ("YOLOv10-L (stock, DUO)", "yolov10_l_36e_coco.yml", 4, 120.0),
]


def build_detector(config, num_classes):
    """The detector of ``config`` (a file under configs/detection or a path), untrained."""
    import ppcls_ext.det

    ppcls_ext.det.install()  # registers EConvNeXt and YOLOv10 into PaddleDetection
    from ppdet.core.workspace import create

    from ppcls_ext.det.workspace import load_fresh_config

    path = config if os.path.isfile(config) else os.path.join(CONFIG_DIR, config)
    cfg = load_fresh_config(path)  # nothing of the previous row's config leaks into this one
    cfg.num_classes = num_classes
    if "EConvNeXt" in cfg:
        cfg["EConvNeXt"]["pretrained"] = None  # FLOPs need no weights
    model = create(cfg.architecture)
    model.eval()
    return model


def detector_gmacs(model, size=640):
    """``paddle.flops`` multiply-accumulates (G) of the whole network and of its backbone."""
    from ppcls_ext.det.flops import detector_gmacs as gmacs

    return gmacs(model, size)


def gflops_table(num_classes=4, size=640, rows=ROWS):
    """One dict per detector: backbone GMACs, GFLOPs at 80 and at ``num_classes``, paper."""
    table = []
    for label, config, paper in rows:
        total_80, backbone = detector_gmacs(build_detector(config, 80), size)
        total_n, _ = detector_gmacs(build_detector(config, num_classes), size)
        table.append(dict(label=label, config=config, backbone_gmacs=backbone,
                          gflops_80=2 * total_80, gflops_n=2 * total_n, paper=paper))
    return table


def _diff(value, paper):
    return f"{100 * (value - paper) / paper:+.1f}%" if paper else ""


def format_table(table, num_classes, size):
    head = (f"| detector (config) | backbone GMACs | GFLOPs, 80 classes | GFLOPs, "
            f"{num_classes} classes | paper GFLOPs | closest vs paper |\n"
            "|---|---:|---:|---:|---:|---:|\n")
    lines = []
    for r in table:
        closest = min((r["gflops_80"], r["gflops_n"]),
                      key=lambda v: abs(v - r["paper"])) if r["paper"] else None
        lines.append(f"| {r['label']} (`{r['config']}`) | {r['backbone_gmacs']:.2f} | "
                     f"{r['gflops_80']:.2f} | {r['gflops_n']:.2f} | "
                     f"{r['paper'] if r['paper'] else '-'} | "
                     f"{_diff(closest, r['paper']) if closest else ''} |")
    return f"At {size}x{size}, GFLOPs = 2 x paddle.flops MACs (backbone + neck + head):\n\n" \
        + head + "\n".join(lines)


def yolov10_table(size=640, rows=YOLOV10_ROWS):
    """One dict per YOLOv10 row: backbone GMACs and GFLOPs at the row's class count, paper."""
    table = []
    for label, config, classes, paper in rows:
        total, backbone = detector_gmacs(build_detector(config, classes), size)
        table.append(dict(label=label, config=config, classes=classes, backbone_gmacs=backbone,
                          gflops=2 * total, paper=paper))
    return table


def format_yolov10_table(table, size):
    head = ("| detector (config) | classes | backbone GMACs | GFLOPs | paper GFLOPs | vs paper |\n"
            "|---|---:|---:|---:|---:|---:|\n")
    lines = [f"| {r['label']} (`{r['config']}`) | {r['classes']} | {r['backbone_gmacs']:.2f} | "
             f"{r['gflops']:.2f} | {r['paper']:g} | "
             f"{100 * (r['gflops'] - r['paper']) / r['paper']:+.2f}% |" for r in table]
    return (f"YOLOv10 at {size}x{size}, the data set's class count, one-to-one head (what runs at "
            "inference):\n\n" + head + "\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_classes", type=int, default=4,
                        help="second class count (default 4: the paper's DUO set)")
    parser.add_argument("--size", type=int, default=640, help="square input size")
    parser.add_argument("--mini_size", type=int, default=608,
                        help="also show PP-YOLOE-S + mini at this input size (0: skip)")
    parser.add_argument("--no_yolov10", action="store_true", help="skip the YOLOv10 rows")
    args = parser.parse_args(argv)
    table = gflops_table(args.num_classes, args.size)
    print(format_table(table, args.num_classes, args.size))
    if args.mini_size:
        extra = gflops_table(args.num_classes, args.mini_size, rows=ROWS[1:2])
        print()
        print(format_table(extra, args.num_classes, args.mini_size))
    if not args.no_yolov10:
        print()
        print(format_yolov10_table(yolov10_table(args.size), args.size))
    return table


if __name__ == "__main__":
    main()
