"""Train a PaddleDetection model (PaddleDetection's tools/train.py command line).

    python tools/det/train.py -c configs/detection/ppyoloe_s_econvnext_mini_36e_coco.yml --eval
    python tools/det/train.py -c CFG -r output/<name>/3          # resume epoch-3 checkpoint
    python tools/det/train.py -c CFG -o pretrain_weights=output/EConvNeXt_mini/best_model
    python -m paddle.distributed.launch --gpus 0,1,2,3 tools/det/train.py -c CFG --eval

Checkpoints (``<epoch>.pdparams/.pdopt``, ``best_model``, ``model_final``) land in
``save_dir/<config name>/``; ``--use_vdl true`` writes VisualDL scalars to ``--vdl_log_dir``.

Same as the console script ``ppcls-det-train`` (code: ``ppcls_ext.det.commands.train``).
"""
from ppcls_ext.det.commands import train as main

if __name__ == "__main__":
    main()
