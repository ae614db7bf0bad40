"""Export a detector to a Paddle Inference model (PaddleDetection's tools/export_model.py).

    python tools/det/export_model.py -c CFG -o weights=output/<name>/best_model \
        [--output_dir output_inference]

Writes ``<output_dir>/<config name>/``: the program (``model.json`` under Paddle 3's PIR,
``model.pdmodel`` in the legacy format), ``model.pdiparams`` and ``infer_cfg.yml`` (the
preprocessing, label list and NMS settings PaddleDetection's deploy predictor reads). With the
config's ``export: {post_process: true, nms: true}`` (the default) box decoding and
MultiClassNMS are inside the model: it returns ``bbox`` [N, 6] = (class, score, x1, y1, x2,
y2) in input-image pixels and ``bbox_num`` per image. Export runs on the CPU, as
PaddleDetection's.
"""
import os

from _common import check_weights, load, main_guard, parser


def parse_args():
    p = parser()
    p.add_argument("--output_dir", type=str, default="output_inference",
                   help="the model goes to <output_dir>/<config name>/")
    return p.parse_args()


def run():
    import paddle

    flags = parse_args()
    paddle.set_device("cpu")  # as PaddleDetection: export never needs a GPU
    cfg = load(flags)
    cfg.use_gpu = False
    check_weights(cfg.weights, "weights")
    from ppdet.engine import Trainer

    trainer = Trainer(cfg, mode="test")
    trainer.load_weights(cfg.weights)
    trainer.export(flags.output_dir)
    name = os.path.splitext(os.path.basename(cfg.filename))[0]
    return os.path.join(flags.output_dir, name)


if __name__ == "__main__":
    main_guard(run)
