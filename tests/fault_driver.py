"""Training process for tests/test_faults.py: tools/train.py's engine, with save events on stdout.

    python tests/fault_driver.py [--die-after-renames N] -- -c CONFIG -o ...

Prints ``SAVE_BEGIN <prefix> <epoch> <checksum>`` / ``SAVE_END ...`` around every checkpoint
save (checksum: sum of |weights|, to tell which save a file on disk came from) and
``STEP <epoch> <iter>`` per training step, flushed, so the test can SIGKILL it at chosen
points. ``--die-after-renames N`` SIGKILLs the process itself right after the N-th rename of a
save, the narrow window a random kill rarely hits.
"""
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402


def checksum(model):
    return float(sum(np.abs(p.numpy()).sum() for p in model.state_dict().values()))


def main():
    argv = sys.argv[1:]
    die_after = None
    if argv[:1] == ["--die-after-renames"]:
        die_after, argv = int(argv[1]), argv[2:]
    argv = argv[1:] if argv[:1] == ["--"] else argv

    from ppcls_ext.engine import Engine, load_config, loops
    from ppcls_ext.io import checkpoint

    def event(*words):
        print(*words, flush=True)

    save = checkpoint.save_checkpoint

    def traced_save(save_dir, prefix, model, optimizer=None, ema=None, states=None, **kw):
        tag = (prefix, (states or {}).get("epoch"), f"{checksum(model):.6e}")
        event("SAVE_BEGIN", *tag)
        out = save(save_dir, prefix, model, optimizer, ema, states, **kw)
        event("SAVE_END", *tag)
        return out
    loops.save_checkpoint = traced_save

    if die_after is not None:
        replace, done = os.replace, []

        def replace_then_die(src, dst):
            replace(src, dst)
            if src.endswith(f".tmp{os.getpid()}") and not dst.endswith(checkpoint.JOURNAL):
                done.append(dst)
                if len(done) == die_after:
                    os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace_then_die  # this process only: it dies at the N-th rename

    config_path = argv[argv.index("-c") + 1]
    overrides = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    engine = Engine(load_config(config_path, overrides), "train")
    forward = engine.train_loss.forward

    def traced_forward(logits, labels):
        event("STEP", engine.states["epoch"] + 1, engine.states["global_step"])
        return forward(logits, labels)
    engine.train_loss.forward = traced_forward
    engine.train()
    event("DONE")


if __name__ == "__main__":
    main()
