"""What the safe loaders cost: seconds to read a model's weights, by format and loader.

    python benchmarks/weights_load.py [--models EConvNeXt_mini EConvNeXt_small] [--rounds 5]

For each model (1000 classes), its state dict is written once as .pdparams and once as
.safetensors (this project's writer, with per-tensor SHA-256) in a temp folder, then read
``--rounds`` times, interleaved, by: plain ``paddle.load`` (unsafe: for reference only), this
project's ``read_state_dict`` on the .pdparams (allow-list check + ``paddle.load`` of the
checked bytes) and ``read_state_dict`` on the .safetensors (safetensors + hash check). The
median of each is printed, with the ratio to ``paddle.load``. The OS page cache holds the
files after the first round, so this is parsing cost, not disk speed.
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["EConvNeXt_mini", "EConvNeXt_small"])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import paddle

    from ppcls_ext.io import read_state_dict, write_state_dict
    from ppcls_ext.registry import FACTORIES

    paddle.set_device("cpu")
    print(f"CPU: {platform.processor() or platform.machine()}, paddle {paddle.__version__}")
    print("| model | MB | paddle.load (.pdparams, unsafe) | read_state_dict .pdparams "
          "| read_state_dict .safetensors |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            state = FACTORIES[name](class_num=1000).state_dict()
            pd = write_state_dict(state, os.path.join(tmp, name + ".pdparams"))
            st = write_state_dict(state, os.path.join(tmp, name + ".safetensors"))
            readers = {"plain": lambda: paddle.load(pd), "safe_pd": lambda: read_state_dict(pd),
                       "safe_st": lambda: read_state_dict(st)}
            times = {key: [] for key in readers}
            for _ in range(args.rounds):
                for key, read in readers.items():
                    start = time.perf_counter()
                    read()
                    times[key].append(time.perf_counter() - start)
            med = {key: statistics.median(values) for key, values in times.items()}
            size = os.path.getsize(pd) / 1e6
            print(f"| {name} | {size:.0f} | {med['plain']:.3f} s | {med['safe_pd']:.3f} s "
                  f"({med['safe_pd'] / med['plain']:.2f}x) | {med['safe_st']:.3f} s "
                  f"({med['safe_st'] / med['plain']:.2f}x) |")


if __name__ == "__main__":
    main()
