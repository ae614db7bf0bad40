"""Write scikit-learn's handwritten digits as a PaddleClas dataset (no download).

    python tools/prepare_digits.py [--out dataset/digits] [--val-fraction 0.2] [--seed 0]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppcls_ext.engine.data.digits import prepare_digits  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="dataset/digits")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = prepare_digits(args.out, args.val_fraction, args.seed)
    print(f"digits written to {args.out}: {counts['train']} train, {counts['val']} val, "
          f"{counts['classes']} classes")


if __name__ == "__main__":
    main()
