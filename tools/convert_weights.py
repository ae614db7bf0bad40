"""Convert a checkpoint of the E-ConvNeXt authors' reference code into this model's .pdparams.

    python tools/convert_weights.py --src authors_tiny.pdparams --arch EConvNeXt_tiny \
        --dst output/EConvNeXt_tiny_converted.pdparams [--class_num 1000] [--allow-missing]

Every source key that maps nowhere is reported; a shape that does not fit, or (unless
--allow-missing) a model parameter the checkpoint does not provide, fails the conversion
and writes nothing.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import paddle  # noqa: E402

from ppcls_ext.arch import MODEL_NAMES, convert_authors_state_dict  # noqa: E402
from ppcls_ext.arch.weights import read_state_dict, resolve_weights_path  # noqa: E402
from ppcls_ext.registry import FACTORIES  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True, help="authors' checkpoint (.pdparams)")
    parser.add_argument("--dst", required=True, help="where to write the converted .pdparams")
    parser.add_argument("--arch", required=True, choices=MODEL_NAMES)
    parser.add_argument("--class_num", type=int, default=None,
                        help="classifier width (default: read from the checkpoint)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="write even if some model parameters are not in the checkpoint")
    return parser.parse_args(argv)


def _class_num_of(state):
    for key in ("head.fc_cls.weight", "head.weight"):
        if key in state:
            return int(state[key].shape[1])
    return 1000


def _save_atomically(state, dst):
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    tmp = f"{dst}.tmp{os.getpid()}"
    paddle.save(state, tmp)
    os.replace(tmp, dst)


def main(argv=None):
    args = parse_args(argv)
    state = read_state_dict(resolve_weights_path(args.src))
    class_num = args.class_num if args.class_num is not None else _class_num_of(state)
    model = FACTORIES[args.arch](class_num=class_num)
    converted, report = convert_authors_state_dict(state, model.state_dict())

    for key in report["dropped"]:
        print(f"dropped (unused by the reference model): {key}")
    for key in report["unmapped"]:
        print(f"UNMAPPED source key: {key}")
    for line in report["shape_errors"]:
        print(f"SHAPE MISMATCH: {line}")
    for key in report["missing"]:
        print(f"MISSING model parameter: {key}")
    print(f"{len(converted)}/{len(model.state_dict())} model tensors converted, "
          f"{len(report['unmapped'])} source keys unmapped, {len(report['dropped'])} dropped")

    if report["shape_errors"]:
        print(f"error: {len(report['shape_errors'])} tensors do not fit {args.arch} with "
              f"class_num={class_num}; wrong --arch? Nothing written.", file=sys.stderr)
        return 2
    if report["missing"] and not args.allow_missing:
        print(f"error: {len(report['missing'])} model parameters have no source; pass "
              "--allow-missing to keep their initial values. Nothing written.", file=sys.stderr)
        return 2
    model.set_state_dict(converted)
    _save_atomically(model.state_dict(), args.dst)
    print(f"wrote {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
