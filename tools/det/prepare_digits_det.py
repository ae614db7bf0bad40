"""Compose the digit-scenes detection data set (COCO format) from scikit-learn's digits.

    python tools/det/prepare_digits_det.py [--out dataset/digits_det] [--train-scenes 600]
        [--val-scenes 150] [--image-size 128] [--min-digits 2] [--max-digits 6]
        [--min-size 20] [--max-size 44] [--seed 0]

Layout: <out>/images/{train,val}/NNNNN.png, <out>/annotations/instances_{train,val}.json,
<out>/label_list.txt. No download, seconds; running it again changes nothing. Train and val
scenes use disjoint digit images (the classification quick start's split).
"""
import argparse


def digits_det_module():
    # numpy, PIL and scikit-learn only: importing ppcls_ext's submodules imports no Paddle
    from ppcls_ext.det import digits_det

    return digits_det


def main(argv=None):
    module = digits_det_module()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="dataset/digits_det", help="output folder")
    for key, value in module.DEFAULTS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    try:
        counts = module.prepare_digits_det(out, **args)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"digit scenes in {out}: {counts['train']} train ({counts['train_boxes']} boxes), "
          f"{counts['val']} val ({counts['val_boxes']} boxes), {args['image_size']}px "
          f"({counts['written']} files written)")
    return counts


if __name__ == "__main__":
    main()
