"""Evaluate a detector on EvalDataset (PaddleDetection's tools/eval.py command line).

    python tools/det/eval.py -c CFG -o weights=output/<name>/best_model [--classwise]

Prints COCO mAP (PaddleDetection's COCOMetric, pycocotools); bbox.json lands in
``--output_eval`` (default here: ``save_dir/<config name>/``; PaddleDetection's is the working
directory).
"""
from _common import check_weights, default_output_eval, load, main_guard, parser, select_device


def parse_args():
    p = parser()
    p.add_argument("--output_eval", default=None, type=str,
                   help="directory for bbox.json (PaddleDetection's meaning)")
    p.add_argument("--classwise", action="store_true", help="per-class AP table")
    p.add_argument("--save_prediction_only", action="store_true", default=False)
    p.add_argument("--bias", action="store_true", help="+1 in box width/height (legacy)")
    p.add_argument("--amp", action="store_true", default=False)
    return p.parse_args()


def run():
    flags = parse_args()
    cfg = load(flags)
    select_device(cfg)
    check_weights(cfg.weights, "weights")
    default_output_eval(cfg)
    from ppcls_ext.det.data_check import check_config_datasets
    from ppdet.engine import Trainer, init_parallel_env

    check_config_datasets(cfg, ("EvalDataset",))

    init_parallel_env()
    trainer = Trainer(cfg, mode="eval")
    trainer.load_weights(cfg.weights)
    trainer.evaluate()
    return trainer


if __name__ == "__main__":
    main_guard(run)
