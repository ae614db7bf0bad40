"""Entry points of the detection tools: PaddleDetection's command lines on this project.

    ppcls-det-train  -c CFG [--eval] [-r CKPT] [-o key=value ...]   (= python tools/det/train.py)
    ppcls-det-eval   -c CFG -o weights=CKPT                          (= tools/det/eval.py)
    ppcls-det-infer  -c CFG -o weights=CKPT --infer_img IMG          (= tools/det/infer.py)
    ppcls-det-export -c CFG -o weights=CKPT [--output_dir DIR]       (= tools/det/export_model.py)
    ppcls-det-voc2coco --voc_dir D --output J [--label_list L]       (= tools/det/voc2coco.py)

Mirrors PaddleDetection's tools/*.py (release/2.6): ``-c`` config, ``-o`` overrides,
``load_config``, the device from ``use_gpu`` / ``use_xpu`` / ``use_npu`` / ``use_mlu``, then
ppdet's ``Trainer``. Differences: ``ppcls_ext.det.install()`` first (Paddle 3 patches, the
EConvNeXt backbone); ``-o`` goes through the project's one parser (``ppcls_infer.cli``):
repeated ``-o a=1 -o b=2`` and PaddleDetection's ``-o a=1 b=2`` both apply every item, values
are YAML literals (safe_load; PaddleDetection's ArgsParser uses the unsafe ``yaml.Loader``),
a dotted key sets that attribute of a tagged object (``TrainDataset.dataset_dir=D`` keeps the
COCODataSet, where PaddleDetection's merge would replace it by a dict) and a key that exists
nowhere is refused; every ``paddle.load`` of a file is checked against the pickle allow-list;
a user mistake ends with one ``error:`` line (``PPCLS_DEBUG=1``: traceback).
"""
import os
import warnings

from ppcls_infer.cli import (UserError, apply_overrides, console_script, make_parser, run,
                             select_device)
from ppcls_infer.refused_flags import DETECTION as REFUSED
from ppcls_infer.refused_flags import add_refused

# Top-level keys PaddleDetection's Trainer reads with a default, so a config may omit them and
# ``-o`` may still set them (ppdet/engine/trainer.py, callbacks.py, tools/*.py of release/2.6).
RUNTIME_KEYS = {
    "amp", "amp_level", "classwise", "custom_black_list", "custom_white_list", "cycle_epoch",
    "ema_black_list", "ema_decay", "ema_decay_type", "ema_filter_no_grad", "epoch", "export",
    "find_unused_parameters", "fleet", "log_iter", "map_type", "metric", "num_classes",
    "output_eval", "pretrain_weights", "print_flops", "print_params", "save_dir",
    "save_prediction_only", "snapshot_epoch", "to_static", "use_ema", "use_gpu", "use_mlu",
    "use_npu", "use_vdl", "use_wandb", "use_xpu", "vdl_log_dir", "weights", "worker_num",
}
DEVICE_KEYS = (("use_gpu", "gpu"), ("use_npu", "npu"), ("use_xpu", "xpu"), ("use_mlu", "mlu"))


def _setup():
    """Install the integration into PaddleDetection and guard its ``paddle.load``."""
    warnings.filterwarnings("ignore")  # as PaddleDetection's tools: Paddle's deprecation noise
    from ..io import guard_paddle_load
    from . import install

    install()
    # PaddleDetection reads weights, -r checkpoints (.pdparams/.pdopt/.pdema) and
    # pretrain_weights with paddle.load itself: route those pickles through the allow-list.
    guard_paddle_load()


def parser(description=None, tool=None):
    """PaddleDetection's ``-c``/``-o`` command line; ``tool``'s flags that these tools lack
    are refused with their reason (``ppcls_infer.refused_flags``)."""
    p = make_parser(description, config_required=False, example="epoch=10")
    if tool:
        add_refused(p, REFUSED[tool])
    p.add_argument("--allow_base_outside", action="store_true", default=False,
                   help="let the config's _BASE_ files lie outside its configs/ tree and "
                        "this project's configs/ (only for a config you trust)")
    return p


def _new_key(path):
    return len(path) > 1 or path[0] in RUNTIME_KEYS


def load(flags, exclude=("config", "override", "allow_base_outside")):
    """Config of ``-c`` with ``-o`` overrides and the other command-line flags merged in."""
    if not flags.config:
        raise UserError("no config given: pass -c configs/detection/<name>.yml")
    if not os.path.isfile(flags.config):
        raise UserError(f"config file {flags.config} does not exist")
    _setup()
    from .config_loader import load_config  # as data: ppdet's own !Class tags only

    cfg = load_config(flags.config, getattr(flags, "allow_base_outside", False))
    for key, value in vars(flags).items():  # ppdet's merge_args
        if key not in exclude:
            cfg[key] = value
    apply_overrides(cfg, flags.override, new_key=_new_key)
    for key, _ in DEVICE_KEYS:
        cfg.setdefault(key, False)
    # PaddleDetection's check_config, as one line instead of a log + exit
    for key in ("architecture", "num_classes"):
        if key not in cfg:
            raise UserError(f"{flags.config}: '{key}' is not set (in the file or a _BASE_ file)")
    from .values import check_det_values

    check_det_values(cfg, flags.config, flags.override)  # epoch, batch sizes, base_lr, ...
    cfg.setdefault("log_iter", 20)
    return cfg


def select_cfg_device(cfg):
    """The device of ``use_gpu``/``use_npu``/``use_xpu``/``use_mlu`` (first true one), else CPU,
    through ``ppcls_infer.cli.select_device`` (one line naming the key when unavailable)."""
    for key, name in DEVICE_KEYS:
        if cfg.get(key):
            return select_device(name, option=key)
    return select_device("cpu")


def check_weights(path, key):
    """A weights path named by ``key`` must exist (with or without .pdparams)."""
    if path.startswith(("http://", "https://")):
        return path
    stem = path[:-len(".pdparams")] if path.endswith(".pdparams") else path
    if not (os.path.isfile(stem + ".pdparams") or os.path.isdir(stem)):
        raise UserError(f"{key} {path}: no such checkpoint ({stem}.pdparams does not exist)")
    return path


def default_output_eval(cfg):
    """bbox.json of evaluations next to the checkpoints rather than in the working directory."""
    if not cfg.get("output_eval"):
        name = os.path.splitext(os.path.basename(cfg.filename))[0]
        cfg.output_eval = os.path.join(cfg.get("save_dir", "output"), name)
        os.makedirs(cfg.output_eval, exist_ok=True)


def _true(text):
    return text.lower() in ("1", "true", "yes")


# --- train -------------------------------------------------------------------------------------

def train_parser():
    p = parser("Train a PaddleDetection model (PaddleDetection's tools/train.py).", "train")
    p.add_argument("--eval", action="store_true", default=False,
                   help="evaluate every snapshot_epoch epochs and keep best_model")
    p.add_argument("-r", "--resume", default=None, help="checkpoint to resume from")
    p.add_argument("--amp", action="store_true", default=False, help="mixed precision (GPU)")
    p.add_argument("--use_vdl", type=_true, default=False, help="record scalars to VisualDL")
    p.add_argument("--vdl_log_dir", type=str, default="vdl_log_dir/scalar")
    p.add_argument("--save_prediction_only", action="store_true", default=False)
    p.add_argument("--enable_ce", action="store_true", default=False,
                   help="fixed random seed (PaddleDetection's continuous-evaluation flag)")
    return p


def run_train(flags):
    import paddle

    cfg = load(flags)
    cfg.setdefault("fleet", False)
    select_cfg_device(cfg)
    from ppdet.engine import Trainer, init_parallel_env, set_random_seed

    init_parallel_env()  # a no-op unless launched by paddle.distributed.launch
    if flags.enable_ce:
        set_random_seed(0)
    if flags.resume:
        check_weights(flags.resume, "-r/--resume")
    pretrain = cfg.get("pretrain_weights")
    if pretrain and not flags.resume and not pretrain.startswith(("http://", "https://")):
        from ..io import resolve_weights_path

        try:  # .pdparams, .pdema or .safetensors, suffix optional (the backbone's loader)
            resolve_weights_path(pretrain)
        except FileNotFoundError:
            from ppcls_infer.values import override_source

            item = override_source("pretrain_weights", flags.override)
            if item:  # asked for on the command line: a typo must not train from scratch
                raise UserError(f"-o {item}: no such checkpoint ({pretrain}.pdparams, "
                                ".pdema or .safetensors); check the path, or leave "
                                "pretrain_weights out to train without it") from None
            # the config's transfer checkpoint may not be trained yet: one warning, then on
            print(f"warning: pretrain_weights {pretrain} (from the config) does not exist "
                  "(yet); training starts without it", flush=True)
            pretrain = None
    from .data_check import check_config_datasets

    check_config_datasets(cfg, ("TrainDataset", "EvalDataset") if flags.eval
                          else ("TrainDataset",))
    default_output_eval(cfg)  # creates the output folder: after the checks
    if paddle.distributed.get_rank() == 0:
        # one training per output folder (a second one refuses, naming the first); held
        # until the process ends
        from ..outputs import OutputLock

        name = os.path.splitext(os.path.basename(flags.config))[0]
        OutputLock(os.path.join(cfg.get("save_dir", "output"), name),
                   what="detection training").acquire()
    trainer = Trainer(cfg, mode="train")
    if flags.eval and paddle.distributed.get_rank() == 0:
        from .history import attach
        attach(trainer, cfg.save_dir)  # <save_dir>/<config name>/history.json per evaluation
    if flags.resume:
        from .weights import check_resume

        check_resume(trainer, flags.resume)  # all or nothing, as weights below
        trainer.resume_weights(flags.resume)
    elif pretrain:
        trainer.load_weights(pretrain)
    trainer.train(flags.eval)
    return trainer


def train(argv=None):
    return run(run_train, train_parser().parse_args(argv))


# --- eval --------------------------------------------------------------------------------------

def eval_parser():
    p = parser("Evaluate a detector on EvalDataset (PaddleDetection's tools/eval.py).",
               "eval")
    p.add_argument("--output_eval", default=None, type=str,
                   help="directory for bbox.json (PaddleDetection's meaning)")
    p.add_argument("--classwise", action="store_true", help="per-class AP table")
    p.add_argument("--save_prediction_only", action="store_true", default=False)
    p.add_argument("--bias", action="store_true", help="+1 in box width/height (legacy)")
    p.add_argument("--amp", action="store_true", default=False)
    p.add_argument("--json_eval", action="store_true", default=False,
                   help="evaluate the bbox.json already in --output_eval (no model is run)")
    return p


def json_eval(cfg):
    """PaddleDetection's ``--json_eval``: COCO metrics of the ``bbox.json`` (PaddleDetection's
    prediction file, e.g. from ``--save_prediction_only``) in ``output_eval`` against
    EvalDataset's annotations, through ``ppdet.metrics.coco_utils.json_eval_results``; no
    model or weights. Returns the COCO stats (12 floats, [0] = mAP@0.5:0.95)."""
    if cfg.get("metric") != "COCO":
        raise UserError(f"--json_eval evaluates with the COCO API: it needs metric: COCO, the "
                        f"config has metric: {cfg.get('metric')!r}")
    path = os.path.join(cfg.output_eval, "bbox.json")
    if not os.path.isfile(path):
        raise UserError(f"--json_eval: {path} does not exist; write it with tools/det/eval.py "
                        "--save_prediction_only, or point --output_eval at its folder")
    from ppdet.core.workspace import create
    from ppdet.metrics.coco_utils import cocoapi_eval

    from .data_check import check_config_datasets

    check_config_datasets(cfg, ("EvalDataset",))
    # json_eval_results without its silent skip of missing files: bbox.json only
    return cocoapi_eval(path, "bbox", anno_file=create("EvalDataset")().get_anno())


def run_eval(flags):
    cfg = load(flags)
    select_cfg_device(cfg)
    if flags.json_eval:
        default_output_eval(cfg)
        return json_eval(cfg)
    check_weights(cfg.weights, "weights")
    from .weights import load_detector_weights, skip_pretrain

    skip_pretrain(cfg)  # weights only: no backbone pretrained load before them
    default_output_eval(cfg)
    from ppdet.engine import Trainer, init_parallel_env

    from .data_check import check_config_datasets

    check_config_datasets(cfg, ("EvalDataset",))
    init_parallel_env()
    trainer = Trainer(cfg, mode="eval")
    load_detector_weights(trainer, cfg.weights)
    trainer.evaluate()
    return trainer


def evaluate(argv=None):
    return run(run_eval, eval_parser().parse_args(argv))


# --- infer -------------------------------------------------------------------------------------

def infer_parser():
    p = parser("Detect objects in images and draw them (PaddleDetection's tools/infer.py).",
               "infer")
    p.add_argument("--infer_img", type=str, default=None, help="one image")
    p.add_argument("--infer_dir", type=str, default=None, help="a directory of images")
    p.add_argument("--output_dir", type=str, default="output", help="drawn images go here")
    p.add_argument("--draw_threshold", type=float, default=0.5, help="score to draw a box")
    p.add_argument("--save_results", type=_true, default=False, help="also write bbox.json")
    p.add_argument("--visualize", type=_true, default=True, help="draw the boxes")
    return p


def test_images(infer_img, infer_dir):
    """Images named by --infer_img (wins) or found in --infer_dir, as PaddleDetection; the
    folder is listed by ``ppcls_infer.sources`` (recursive, any-case extensions, the formats
    both decoders read; other files counted)."""
    from ppcls_infer.sources import list_images

    if infer_img:
        if not os.path.isfile(infer_img):
            raise UserError(f"--infer_img {infer_img} is not a file")
        return [infer_img]
    if not infer_dir:
        raise UserError("give --infer_img IMAGE or --infer_dir DIRECTORY")
    if not os.path.isdir(infer_dir):
        raise UserError(f"--infer_dir {infer_dir} is not a directory")
    try:
        listing = list_images(os.path.abspath(infer_dir), what="--infer_dir", allow_lists=False)
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    if listing.ignored:
        print(f"--infer_dir: {len(listing.ignored)} file(s) that are not images left out ("
              + ", ".join(os.path.basename(p) for p in listing.ignored[:5])
              + (", ...)" if len(listing.ignored) > 5 else ")"), flush=True)
    return listing.images


test_images.__test__ = False  # a PaddleDetection name, not a pytest test


def run_infer(flags):
    cfg = load(flags)
    select_cfg_device(cfg)
    check_weights(cfg.weights, "weights")
    from .weights import load_detector_weights, skip_pretrain

    skip_pretrain(cfg)  # weights only: no backbone pretrained load before them
    images = test_images(flags.infer_img, flags.infer_dir)
    from ppdet.engine import Trainer

    from .data_check import check_test_categories

    trainer = Trainer(cfg, mode="test")
    # the class count of the weights first: it is the one the data must have
    load_detector_weights(trainer, cfg.weights)
    check_test_categories(cfg)  # num_classes against the names boxes are drawn with
    # unreadable images are skipped, counted and named (ppcls_ext.det.readers)
    trainer.predict(images, draw_threshold=flags.draw_threshold, output_dir=flags.output_dir,
                    save_results=flags.save_results, visualize=flags.visualize)
    skipped = set(getattr(trainer, "unreadable_images", ()))
    return [os.path.join(flags.output_dir, os.path.basename(p)) for p in images
            if p not in skipped]


def infer(argv=None):
    return run(run_infer, infer_parser().parse_args(argv))


# --- export ------------------------------------------------------------------------------------

def export_parser():
    p = parser("Export a detector to a Paddle Inference model (PaddleDetection's "
               "tools/export_model.py).", "export")
    p.add_argument("--output_dir", type=str, default="output_inference",
                   help="the model goes to <output_dir>/<config name>/")
    return p


def run_export(flags):
    import paddle

    paddle.set_device("cpu")  # as PaddleDetection: export never needs a GPU
    cfg = load(flags)
    cfg.use_gpu = False
    check_weights(cfg.weights, "weights")
    from .weights import load_detector_weights, skip_pretrain

    skip_pretrain(cfg)  # weights only: no backbone pretrained load before them
    from ppdet.engine import Trainer

    trainer = Trainer(cfg, mode="test")
    load_detector_weights(trainer, cfg.weights)
    trainer.export(flags.output_dir)
    name = os.path.splitext(os.path.basename(cfg.filename))[0]
    out = os.path.join(flags.output_dir, name)
    # PaddleX 3 reads inference.{json,pdiparams,yml} with Global.model_name: the same files
    # (hard links) under those names, so the folder runs in PaddleX as it is
    from ppcls_infer.paddlex_plugin import DETECTORS, paddlex_model_dir

    pdx_name = cfg.get("pdx_model_name") or {v: k for k, v in DETECTORS.items()}.get(name, name)
    paddlex_model_dir(out, pdx_name)
    call = "register()" if pdx_name in DETECTORS else f"register(detectors=[{pdx_name!r}])"
    print(f"PaddleX model name: {pdx_name} (in inference.yml; PaddleX runs the folder after "
          f"ppcls_infer.paddlex_plugin.{call})")
    return out


def export_model(argv=None):
    return run(run_export, export_parser().parse_args(argv))


# --- voc2coco ----------------------------------------------------------------------------------

def voc2coco_parser():
    import argparse

    p = argparse.ArgumentParser(
        description="Convert a Pascal VOC data set to one COCO json (for COCO mAP and "
                    "COCO-only tools); ppcls_ext.det.voc holds the rules.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--voc_dir", help="VOC folder: images and XMLs matched by file name "
                     "(Annotations/ + JPEGImages/, or side by side)")
    src.add_argument("--anno_list", help="PaddleDetection's '<image> <xml>' list")
    p.add_argument("--dataset_dir", default=None,
                   help="folder the --anno_list paths are relative to (default: the list's)")
    p.add_argument("--label_list", default=None,
                   help="class names, one a line (default: the sorted names in the XMLs)")
    p.add_argument("--output", required=True, help="COCO json to write")
    p.add_argument("--pair_list", default=None, help="also write the '<image> <xml>' list "
                   "(paths relative to --voc_dir) that VOCDataSet reads")
    return p


def _write_text(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def run_voc2coco(flags):
    """Returns (COCO dict, report); unreadable XMLs and boxes without area are skipped,
    counted and named on stderr; a summary line on stdout."""
    import json
    import sys

    from .voc import find_voc_pairs, read_label_list, read_pair_list, voc_to_coco

    if flags.voc_dir:
        if not os.path.isdir(flags.voc_dir):
            raise UserError(f"--voc_dir {flags.voc_dir!r} is not a directory")
        pairs, orphans = find_voc_pairs(flags.voc_dir)
        if orphans:
            print(f"skipped {len(orphans)} XML file(s) without an image of the same name: "
                  + ", ".join(os.path.relpath(p, flags.voc_dir) for p in orphans[:5]),
                  file=sys.stderr)
        base = flags.voc_dir
    else:
        if not os.path.isfile(flags.anno_list):
            raise UserError(f"--anno_list {flags.anno_list!r} does not exist")
        base = flags.dataset_dir or os.path.dirname(os.path.abspath(flags.anno_list))
        pairs = [(img, xml) for _, img, xml in read_pair_list(flags.anno_list, base)]
        missing = [p for pair in pairs for p in pair if not os.path.isfile(p)]
        if missing:
            raise UserError(f"{len(missing)} file(s) named in {flags.anno_list} are missing, "
                            f"first: {missing[0]!r}")
    if not pairs:
        raise UserError(f"no image with a VOC XML of the same name in {base!r}")
    labels = read_label_list(flags.label_list, strict=False) if flags.label_list else None
    coco, report = voc_to_coco(pairs, labels, log=lambda line: print(line, file=sys.stderr))
    if not coco["images"]:
        raise UserError(f"none of the {len(pairs)} XML files could be read")
    _write_text(flags.output, json.dumps(coco))
    if flags.pair_list:
        _write_text(flags.pair_list, "".join(f"{os.path.relpath(img, base)} "
                                             f"{os.path.relpath(xml, base)}\n"
                                             for img, xml in pairs))
    names = ", ".join(c["name"] for c in coco["categories"])
    print(f"{flags.output}: {report['images']} images, {report['boxes']} boxes, "
          f"{report['categories']} categories ({names}); {len(report['unreadable'])} "
          f"unreadable XML, {len(report['skipped_boxes'])} boxes skipped; file names relative "
          f"to {report['image_root']} (the image_dir to configure)")
    return coco, report


def voc2coco(argv=None):
    return run(run_voc2coco, voc2coco_parser().parse_args(argv))


# --- console scripts (pyproject.toml): exit status 0 on success -----------------------------

train_script = console_script(globals(), "train")
evaluate_script = console_script(globals(), "evaluate")
infer_script = console_script(globals(), "infer")
export_model_script = console_script(globals(), "export_model")
voc2coco_script = console_script(globals(), "voc2coco")
