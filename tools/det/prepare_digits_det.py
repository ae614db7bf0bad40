"""Compose the digit-scenes detection data set (COCO format) from scikit-learn's digits.

    python tools/det/prepare_digits_det.py [--out dataset/digits_det] [--preset default]
        [--train-scenes 600] [--val-scenes 150] [--image-size 128] [--min-digits 2]
        [--max-digits 6] [--min-size 20] [--max-size 44] [--seed 0]

--preset picks named settings (default | large | dense | mixed, see PRESETS in
ppcls_ext/det/digits_det.py); the other flags override single values of it.

Layout: <out>/images/{train,val}/NNNNN.png, <out>/annotations/instances_{train,val}.json,
<out>/label_list.txt. No download, seconds; running it again changes nothing. Train and val
scenes use disjoint digit images (the classification quick start's split).
"""
import argparse

from ppcls_infer.cli import UserError


def digits_det_module():
    # numpy, PIL and scikit-learn only: importing ppcls_ext's submodules imports no Paddle
    from ppcls_ext.det import digits_det

    return digits_det


def main(argv=None):
    module = digits_det_module()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="dataset/digits_det", help="output folder")
    parser.add_argument("--preset", default="default", choices=list(module.PRESETS),
                        help="named generator settings; the flags below override them")
    for key, value in module.DEFAULTS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=None,
                            help=f"(default: the preset's, {value} in 'default')")
    args = vars(parser.parse_args(argv))
    out, preset = args.pop("out"), args.pop("preset")
    overrides = {k: v for k, v in args.items() if v is not None}
    try:
        settings = module.preset_settings(preset, **overrides)
        counts = module.prepare_digits_det(out, **settings)
    except UserError as exc:  # a preset or flag out of range
        parser.error(str(exc))
    print(f"digit scenes in {out} (preset {preset}): {counts['train']} train "
          f"({counts['train_boxes']} boxes), {counts['val']} val ({counts['val_boxes']} boxes), "
          f"{settings['image_size']}px ({counts['written']} files written)")
    return counts


if __name__ == "__main__":
    main()
