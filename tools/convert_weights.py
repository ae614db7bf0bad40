"""Convert weights between .pdparams and .safetensors, or the E-ConvNeXt authors' checkpoints.

    python tools/convert_weights.py --src A.pdparams --dst B.safetensors
    python tools/convert_weights.py --src B.safetensors --dst A.pdparams
    python tools/convert_weights.py --src authors_tiny.pdparams --arch EConvNeXt_tiny \
        --dst output/EConvNeXt_tiny_converted.safetensors [--class_num 1000] [--allow-missing]

The formats follow the file suffixes. Without --arch the tensors are copied as they are;
with --arch the source is a checkpoint of the authors' reference code, renamed onto this
model: every source key that maps nowhere is reported, and a shape that does not fit, or
(unless --allow-missing) a model parameter the checkpoint does not provide, fails the
conversion. A .pdparams source is read through the project's allow-list unpickler (it
cannot run code; PPCLS_TRUST_PICKLE=1 bypasses it). Nothing is written on any error, and
the output appears only complete (temp file + rename).
"""
import argparse
import os
import sys

from ppcls_infer.cli import USER_ERRORS, MissingPathError, report

FORMATS = (".pdparams", ".safetensors")


def parse_args(argv=None):
    from ppcls_ext.arch import MODEL_NAMES

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True, help="source weights (.pdparams or .safetensors)")
    parser.add_argument("--dst", required=True, help="output (.pdparams or .safetensors)")
    parser.add_argument("--arch", choices=MODEL_NAMES, default=None,
                        help="only for the authors' checkpoints: the variant to map them onto")
    parser.add_argument("--class_num", type=int, default=None,
                        help="with --arch: classifier width (default: read from the checkpoint)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="with --arch: write even if some model parameters have no source")
    args = parser.parse_args(argv)
    for name in ("src", "dst"):
        if not getattr(args, name).endswith(FORMATS):
            parser.error(f"--{name} {getattr(args, name)!r} must end in .pdparams or "
                         ".safetensors (the format follows the suffix)")
    return args


def _class_num_of(state):
    for key in ("head.fc_cls.weight", "head.weight"):
        if key in state:
            return int(state[key].shape[1])
    return 1000


def _convert_authors(state, args):
    """The authors' names -> this model's; returns the state to write or None (error)."""
    from ppcls_ext.arch import convert_authors_state_dict
    from ppcls_ext.registry import FACTORIES

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
        return None
    if report["missing"] and not args.allow_missing:
        print(f"error: {len(report['missing'])} model parameters have no source; pass "
              "--allow-missing to keep their initial values. Nothing written.", file=sys.stderr)
        return None
    model.set_state_dict(converted)
    return model.state_dict()


def main(argv=None):
    args = parse_args(argv)
    from ppcls_ext.io import read_state_dict, write_state_dict

    try:
        if not os.path.isfile(args.src):
            raise MissingPathError(f"--src {args.src!r} does not exist")
        state = read_state_dict(args.src)
        if args.arch:
            state = _convert_authors(state, args)
            if state is None:
                return 2
        write_state_dict(state, args.dst)
    except USER_ERRORS as exc:  # SafetensorsMissingError: safetensors not installed
        return report(exc)
    print(f"wrote {args.dst} ({len(state)} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
