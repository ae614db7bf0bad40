"""GFLOPs of the PP-YOLOE detectors at 640x640, the way PaddleDetection publishes them.

    python tools/det/flops.py [--num_classes 4] [--size 640] [--markdown]

PaddleDetection's model-zoo GFLOPs are 2 x the multiply-accumulates that ``paddle.flops``
counts for backbone + neck + head at 640x640 with COCO's 80 classes (stock PP-YOLOE-S:
8.85 GMACs here -> 17.7, published 17.36). Box decoding and NMS are not counted. The table
gives each detector at 80 classes (the zoo convention) and at ``--num_classes`` (default 4:
the paper's DUO set), next to the figure the paper prints.
"""
import argparse
import contextlib
import io
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


def build_detector(config, num_classes):
    """The detector of ``config`` (a file under configs/detection or a path), untrained."""
    import ppcls_ext.det

    ppcls_ext.det.install()  # registers EConvNeXt into PaddleDetection
    from ppdet.core.workspace import create, load_config

    path = config if os.path.isfile(config) else os.path.join(CONFIG_DIR, config)
    cfg = load_config(path)
    cfg.num_classes = num_classes
    if "EConvNeXt" in cfg:
        cfg["EConvNeXt"]["pretrained"] = None  # FLOPs need no weights
    model = create(cfg.architecture)
    model.eval()
    return model


def _network(model):
    """backbone -> neck -> head outputs, without decoding/NMS: what the zoo counts."""
    import paddle.nn as nn

    class Network(nn.Layer):
        def __init__(self, detector):
            super().__init__()
            self.detector = detector

        def forward(self, image):
            feats = self.detector.neck(self.detector.backbone({"image": image}))
            return self.detector.yolo_head.forward_eval(feats)[:2]

    return Network(model)


def detector_gmacs(model, size=640):
    """``paddle.flops`` multiply-accumulates (G) of the whole network and of its backbone."""
    import paddle
    import paddle.nn as nn

    class Backbone(nn.Layer):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone

        def forward(self, image):
            return self.backbone({"image": image})

    # the detector is in eval mode; PPYOLOEHead's eval anchors follow the input size
    model.yolo_head.eval_size = None
    with contextlib.redirect_stdout(io.StringIO()):  # paddle.flops prints its own summary
        total = paddle.flops(_network(model), [1, 3, size, size])
        backbone = paddle.flops(Backbone(model.backbone), [1, 3, size, size])
    return total / 1e9, backbone / 1e9


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_classes", type=int, default=4,
                        help="second class count (default 4: the paper's DUO set)")
    parser.add_argument("--size", type=int, default=640, help="square input size")
    parser.add_argument("--mini_size", type=int, default=608,
                        help="also show PP-YOLOE-S + mini at this input size (0: skip)")
    args = parser.parse_args(argv)
    table = gflops_table(args.num_classes, args.size)
    print(format_table(table, args.num_classes, args.size))
    if args.mini_size:
        extra = gflops_table(args.num_classes, args.mini_size, rows=ROWS[1:2])
        print()
        print(format_table(extra, args.num_classes, args.mini_size))
    return table


if __name__ == "__main__":
    main()
