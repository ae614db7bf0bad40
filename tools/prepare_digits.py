"""Write scikit-learn's handwritten digits as a PaddleClas dataset (no download, seconds).

    python tools/prepare_digits.py [--out dataset/digits] [--val-fraction 0.2] [--seed 0]

Layout: <out>/images/{train,val}/<index>_<label>.png, <out>/train_list.txt,
<out>/val_list.txt (paths relative to <out>) and <out>/label_list.txt ("<id> <name>", usable
as Infer.PostProcess.class_id_map_file). Running it again changes nothing.
"""
import argparse

from ppcls_ext.engine.data import digits  # numpy, PIL, scikit-learn only (no Paddle)

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="dataset/digits", help="output folder")
    parser.add_argument("--val-fraction", type=float, default=0.2,
                        help="share of each class put in val_list.txt")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split")
    args = parser.parse_args(argv)
    counts = digits.prepare_digits(args.out, args.val_fraction, args.seed)
    print(f"digits in {args.out}: {counts['train']} train, {counts['val']} val, "
          f"{counts['classes']} classes ({counts['written']} files written)")
    return counts


if __name__ == "__main__":
    main()
