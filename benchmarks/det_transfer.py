"""Transfer benchmark: the detection quick start's schedule with three backbones, one table.

    python benchmarks/det_transfer.py [--variants crn_s,mini_scratch,mini_cls] [--epochs 6]
        [--out benchmarks/results/det_transfer] [--parallel]
    python benchmarks/det_transfer.py --variants mini_cls,y10_mini_cls,y10_n --epochs 3 \
        --parallel --out benchmarks/results/det_families

Rows (same data, neck/head, optimizer, schedule, evaluation after every epoch):
  crn_s         PP-YOLOE-S's stock CSPResNet-S backbone, untrained (nothing is downloaded)
  mini_scratch  E-ConvNeXt-mini, untrained
  mini_cls      E-ConvNeXt-mini from the classification quick start's checkpoint
                (output/EConvNeXt_mini/best_model.pdparams; `bash tools/quick_start.sh`)
  y10_mini_cls  YOLOv10-M neck + dual head, E-ConvNeXt-mini from the classifier (the YOLOv10
                quick start, configs/detection/quick_start/yolov10_m_econvnext_mini_digits.yml)
  y10_n         stock YOLOv10-N, untrained, the YOLOv10 quick start's schedule
                (yolov10_n_digits.yml)

The PP-YOLOE rows use the PP-YOLOE quick start's schedule, the YOLOv10 rows the YOLOv10 quick
start's, unless ``--epochs`` sets one for all (cosine over it). ``--parallel`` runs the rows at
the same time (each in its own process): on a shared machine they then see the same load, and
each row's CPU time per training image is the comparable cost.

Each row trains in its own process (``--run NAME``) under ``output/det_transfer/``. Written:
``<out>.json`` (every row with its per-epoch history), ``<out>.md`` (the table) and
``<out>.png`` (mAP@0.5 per epoch of every row), with the CPU model, its flags and the load
average: on a shared machine compare the rows' ratios, not absolute times. Long: each row is
a full quick-start training (prepare the data first: python tools/det/prepare_digits_det.py).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = os.path.join(ROOT, "configs", "detection", "quick_start")
CLS_CKPT = "output/EConvNeXt_mini/best_model.pdparams"
VARIANTS = {
    "crn_s": ("CSPResNet-S (stock), from scratch", "ppyoloe_crn_s_digits.yml", {}),
    "mini_scratch": ("E-ConvNeXt-mini, from scratch", "ppyoloe_s_econvnext_mini_digits.yml",
                     {"EConvNeXt": {"pretrained": None}}),
    "mini_cls": ("E-ConvNeXt-mini, from the classifier", "ppyoloe_s_econvnext_mini_digits.yml",
                 {"EConvNeXt": {"pretrained": CLS_CKPT}}),
    "y10_mini_cls": ("YOLOv10-M + E-ConvNeXt-mini, from the classifier",
                     "yolov10_m_econvnext_mini_digits.yml",
                     {"EConvNeXt": {"pretrained": CLS_CKPT}}),
    "y10_n": ("YOLOv10-N (stock), from scratch", "yolov10_n_digits.yml", {}),
}


def _overrides(pairs):
    """``-o a.b=value`` pairs -> nested dict (values parsed as YAML, as ppdet's -o)."""
    import yaml

    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"error: -o {pair!r}; expected key=value")
        key, value = pair.split("=", 1)
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return out


def run_one(name, save_dir, overrides, epochs=None):
    """Train one row in this process; returns its record (history and timings)."""
    sys.path.insert(0, ROOT)
    import paddle

    import ppcls_ext.det

    ppcls_ext.det.install()  # patches, EConvNeXt and YOLOv10 registration
    from ppcls_ext.det.history import attach
    from ppdet.core.workspace import merge_config

    from ppcls_ext.det.workspace import load_fresh_config
    from ppdet.engine import Trainer

    label, config, variant = VARIANTS[name]
    if name.endswith("mini_cls") and not os.path.isfile(os.path.join(ROOT, CLS_CKPT)):
        raise SystemExit(f"error: {CLS_CKPT} not found; run `bash tools/quick_start.sh` first")
    paddle.set_device("cpu")
    cfg = load_fresh_config(os.path.join(QUICK, config))
    merge_config(variant)
    merge_config(dict(overrides, save_dir=save_dir, use_gpu=False,  # bbox.json not in cwd
                      output_eval=os.path.join(save_dir, os.path.splitext(config)[0])))
    if epochs:  # a shorter schedule: the cosine decay ends with it
        cfg.epoch = epochs
        for scheduler in cfg.LearningRate["schedulers"]:
            if scheduler.get("name") == "CosineDecay":
                scheduler["max_epochs"] = epochs
    trainer = Trainer(cfg, mode="train")
    history = attach(trainer, save_dir)
    wall, cpu = time.time(), time.process_time()
    trainer.train(validate=True)
    wall, cpu = time.time() - wall, time.process_time() - cpu
    records = history.records
    if not records:
        raise SystemExit(f"error: row {name} recorded no evaluation")
    last = records[-1]
    images = len(trainer.dataset) // cfg.TrainReader["batch_size"] * \
        cfg.TrainReader["batch_size"] * int(cfg.epoch)
    return {"name": name, "backbone": label, "config": config, "epochs": int(cfg.epoch),
            "mAP50": last.get("mAP50"), "mAP": last.get("mAP"),
            "train_images_per_s": round(sum(r["train_images_per_s"] for r in records) /
                                        max(len(records), 1), 3),
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "train_images": images,
            "load1_end": round(os.getloadavg()[0], 2), "history": records}


def cpu_info():
    model, flags = "unknown", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = [x for x in line.split(":", 1)[1].split()
                             if x.startswith(("avx", "fma", "amx"))]
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(), "flags": flags}


def write_table(rows, out, info, command):
    lines = [f"Detection on the digit scenes, {rows[0]['epochs']} epoch(s) (cosine "
             f"over them), `{command}`; CPU: {info['model']}, {info['cores']} cores "
             f"({' '.join(info['flags'])}); CPU = the row's process CPU time (evaluations "
             "included); load = 1-min load average at the row's end (a shared machine: "
             "compare ratios).", "",
             "| detector | mAP@0.5 | mAP@0.5:0.95 | train img/s | wall (min) | CPU (min) | "
             "CPU s / 100 train img | load |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backbone']} | {r['mAP50']:.3f} | {r['mAP']:.3f} | "
                     f"{r['train_images_per_s']:.2f} | {r['wall_s'] / 60:.1f} | "
                     f"{r['cpu_s'] / 60:.1f} | {100 * r['cpu_s'] / r['train_images']:.1f} | "
                     f"{r['load1_end']:.1f} |")
    with open(out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(out + ".json", "w") as f:
        json.dump({"cpu": info, "command": command, "rows": rows}, f, indent=1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    for r in rows:
        ax.plot([h["epoch"] for h in r["history"]], [h["mAP50"] for h in r["history"]], "o-",
                label=r["backbone"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("mAP@0.5 (val scenes)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out + ".png")
    plt.close(fig)
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("-o", "--opt", action="append", default=[],
                        help="config override for every row, e.g. -o TrainReader.batch_size=4")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                      "det_transfer"))
    parser.add_argument("--save_dir", default="output/det_transfer")
    parser.add_argument("--epochs", type=int, default=None,
                        help="a shorter schedule than the quick start's (cosine over it)")
    parser.add_argument("--parallel", action="store_true",
                        help="run the rows at the same time, each in its own process")
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)  # one row, in-process
    args = parser.parse_args(argv)
    overrides = _overrides(args.opt)
    if args.run:
        record = run_one(args.run, args.save_dir, overrides, args.epochs)
        print("RESULT " + json.dumps(record), flush=True)
        return 0
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"error: unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
    def command(name):
        cmd = [sys.executable, os.path.abspath(__file__), "--run", name,
               "--save_dir", args.save_dir] + sum((["-o", o] for o in args.opt), [])
        return cmd + (["--epochs", str(args.epochs)] if args.epochs else [])

    def collect(name, returncode, stdout, stderr):
        result = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
        if returncode or not result:
            sys.stderr.write(stderr[-3000:])
            raise SystemExit(f"error: row {name} failed (exit {returncode})")
        row = json.loads(result[-1][len("RESULT "):])
        print(f"   {name}: mAP@0.5 {row['mAP50']:.3f}, mAP@0.5:0.95 {row['mAP']:.3f}, "
              f"{row['wall_s'] / 60:.1f} min", flush=True)
        return row

    rows = []
    if args.parallel:  # every row at once, each in its own process (and session)
        procs = []
        for name in names:
            print(f"== {name}: {' '.join(command(name)[1:])} (load {os.getloadavg()[0]:.1f})",
                  flush=True)
            procs.append((name, subprocess.Popen(command(name), cwd=ROOT, text=True,
                                                 stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE,
                                                 start_new_session=True)))
        for name, proc in procs:
            out, err = proc.communicate()
            rows.append(collect(name, proc.returncode, out, err))
    else:
        for name in names:
            print(f"== {name}: {' '.join(command(name)[1:])} (load {os.getloadavg()[0]:.1f})",
                  flush=True)
            proc = subprocess.run(command(name), cwd=ROOT, capture_output=True, text=True)
            rows.append(collect(name, proc.returncode, proc.stdout, proc.stderr))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    command = "python benchmarks/det_transfer.py " + " ".join(argv if argv is not None
                                                              else sys.argv[1:])
    print(write_table(rows, args.out, cpu_info(), command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
