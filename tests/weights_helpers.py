"""Helpers shared by the weights tests: booby-trapped pickles and checkpoints named the way the
authors' reference code names its layers."""
import os
import pickle
import subprocess

import numpy as np


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker, via="system"):
        self.marker, self.via = str(marker), via

    def __reduce__(self):
        if self.via == "eval":  # the global Paddle's own DenseTensor reduce uses
            return eval, (f"open({self.marker!r}, 'w').close()",)
        if self.via == "popen":
            return subprocess.Popen, (["touch", self.marker],)
        return os.system, (f"touch {self.marker}",)


def write_trap(path, marker, via="system", state=None):
    """A plausible checkpoint (real tensors as numpy, as paddle.save writes) with a payload."""
    obj = dict(state or {"stem.conv1.weight": np.zeros([2, 2], "float32")})
    obj["__evil__"] = Payload(marker, via)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return str(path)


def authors_naming(state):
    """Rename our state dict the way the authors' reference code names its layers."""
    out = {}
    for key, value in state.items():
        new = key
        if key.startswith("stem.conv"):
            new = "Down_Conv." + key[len("stem."):]
        elif ".down." in key:
            new = key.replace(".down.", ".down.0.")
        elif key.startswith("head."):
            new = "head.fc_cls." + key[len("head."):]
        value = value.numpy()
        if key.endswith("pwconv1.weight"):  # written as a Linear ([in, out]) in their code
            value = value.reshape(value.shape[:2]).T
        out[new] = value
        if key.endswith("ese.fc.weight"):
            out[new.replace("ese.fc.weight", "gamma")] = np.ones([1], "float32")
    return out
