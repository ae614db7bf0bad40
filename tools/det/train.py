"""Train a PaddleDetection model (PaddleDetection's tools/train.py command line).

    python tools/det/train.py -c configs/detection/ppyoloe_s_econvnext_mini_36e_coco.yml --eval
    python tools/det/train.py -c CFG -r output/<name>/3          # resume epoch-3 checkpoint
    python tools/det/train.py -c CFG -o pretrain_weights=output/EConvNeXt_mini/best_model
    python -m paddle.distributed.launch --gpus 0,1,2,3 tools/det/train.py -c CFG --eval

Checkpoints (``<epoch>.pdparams/.pdopt``, ``best_model``, ``model_final``) land in
``save_dir/<config name>/``; ``--use_vdl true`` writes VisualDL scalars to ``--vdl_log_dir``.
"""
import paddle
from _common import (UserError, check_weights, default_output_eval, load, main_guard, parser,
                     select_device)


def parse_args():
    p = parser()
    p.add_argument("--eval", action="store_true", default=False,
                   help="evaluate every snapshot_epoch epochs and keep best_model")
    p.add_argument("-r", "--resume", default=None, help="checkpoint to resume from")
    p.add_argument("--amp", action="store_true", default=False, help="mixed precision (GPU)")
    p.add_argument("--use_vdl", type=lambda s: s.lower() in ("1", "true", "yes"),
                   default=False, help="record scalars to VisualDL")
    p.add_argument("--vdl_log_dir", type=str, default="vdl_log_dir/scalar")
    p.add_argument("--save_prediction_only", action="store_true", default=False)
    p.add_argument("--enable_ce", action="store_true", default=False,
                   help="fixed random seed (PaddleDetection's continuous-evaluation flag)")
    return p.parse_args()


def run():
    flags = parse_args()
    cfg = load(flags)
    cfg.setdefault("fleet", False)
    default_output_eval(cfg)
    select_device(cfg)
    from ppdet.engine import Trainer, init_parallel_env, set_random_seed

    init_parallel_env()  # a no-op unless launched by paddle.distributed.launch
    if flags.enable_ce:
        set_random_seed(0)
    if flags.resume:
        check_weights(flags.resume, "-r/--resume")
    pretrain = cfg.get("pretrain_weights")
    if pretrain and not flags.resume and not pretrain.startswith(("http://", "https://")):
        try:
            check_weights(pretrain, "pretrain_weights")
        except UserError:
            # the transfer path's checkpoint may not be trained yet: one warning, then scratch
            print(f"warning: pretrain_weights {pretrain} does not exist (yet); "
                  "training starts without it", flush=True)
            pretrain = None
    from ppcls_ext.det.data_check import check_config_datasets
    check_config_datasets(cfg, ("TrainDataset", "EvalDataset") if flags.eval
                          else ("TrainDataset",))
    trainer = Trainer(cfg, mode="train")
    if flags.eval and paddle.distributed.get_rank() == 0:
        from ppcls_ext.det.history import attach
        attach(trainer, cfg.save_dir)  # <save_dir>/<config name>/history.json per evaluation
    if flags.resume:
        trainer.resume_weights(flags.resume)
    elif pretrain:
        trainer.load_weights(pretrain)
    trainer.train(flags.eval)
    return trainer


if __name__ == "__main__":
    main_guard(run)
