"""Weights as ``.safetensors``: a JSON header plus raw tensor bytes, nothing to unpickle.

Reading and writing go through safetensors' Paddle API (``safetensors.paddle``); the Rust
parser checks the header (offsets, sizes, dtypes) and rejects a truncated file. What is
added: every tensor's SHA-256 goes into the header's metadata when this project writes the
file, and is checked on reading, so that bytes changed after writing are reported by tensor
name (safetensors itself stores no checksum). Files from elsewhere (no such metadata) load
unchecked, as with any other safetensors reader.
"""
import hashlib
import json
import os
import struct

import numpy as np
from ppcls_infer.cli import UserError

from .errors import WeightsFileError

SUFFIX = ".safetensors"
_HASH_PREFIX = "sha256:"
# bytes per element of the safetensors dtype names (format spec), for error reports only
_ITEM_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
               "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
               "C64": 8}


class SafetensorsMissingError(UserError, ImportError, RuntimeError):
    """safetensors is not installed (a user error: the tools report it in one line)."""


def _safetensors(module):
    """``safetensors`` or ``safetensors.<module>``, with one clear line if it is missing."""
    import importlib

    try:
        return importlib.import_module("safetensors" + (f".{module}" if module else ""))
    except ImportError as exc:
        raise SafetensorsMissingError(
            f"reading/writing .safetensors needs the safetensors package (pip install "
            f"safetensors==0.8.0, see requirements.txt): {exc}") from None


def _digest(tensor):
    return hashlib.sha256(np.ascontiguousarray(tensor.numpy()).tobytes()).hexdigest()


def _as_tensors(state, path):
    import paddle

    out, bad = {}, []
    for key, value in state.items():
        if isinstance(value, paddle.Tensor):
            out[key] = value.contiguous() if not value.is_contiguous() else value
        elif isinstance(value, np.ndarray):
            out[key] = paddle.to_tensor(value)
        else:
            bad.append(f"{key} ({type(value).__name__})")
    if bad:
        raise ValueError(f"Cannot write {path!r} as safetensors: only tensors can be stored, "
                         f"not {bad[:5]}")
    return out


def save_safetensors(state, path):
    """Write ``state`` (name -> tensor or array) to ``path`` with per-tensor SHA-256."""
    save_file = _safetensors("paddle").save_file
    tensors = _as_tensors(state, path)
    metadata = {"format": "pd"}
    metadata.update({_HASH_PREFIX + key: _digest(t) for key, t in tensors.items()})
    save_file(tensors, path, metadata=metadata)


def load_safetensors(path):
    """name -> paddle.Tensor (CPU); ValueError naming the file (and keys) if it is broken."""
    lib = _safetensors("")
    SafetensorError, safe_open = lib.SafetensorError, lib.safe_open
    try:
        with safe_open(path, framework="paddle", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        raise WeightsFileError(f"Cannot read {path!r} ({size} bytes): not a valid safetensors "
                               f"file, truncated or its header was altered ({exc}){_diagnose(path)}"
                               ) from None
    wrong = [key for key, tensor in state.items()
             if _HASH_PREFIX + key in metadata and metadata[_HASH_PREFIX + key] != _digest(tensor)]
    gone = sorted(k[len(_HASH_PREFIX):] for k in metadata
                  if k.startswith(_HASH_PREFIX) and k[len(_HASH_PREFIX):] not in state)
    if gone:
        raise WeightsFileError(f"{path!r} was altered after it was written: {len(gone)} tensors "
                               f"recorded in its header are missing: {gone[:10]}")
    if wrong:
        raise WeightsFileError(
            f"{path!r} was altered after it was written: the bytes of "
            f"{len(wrong)} tensors do not match their recorded SHA-256: {wrong[:10]}")
    return state


def _diagnose(path):
    """Which tensors a broken file fails on, from its header (8-byte length + JSON).

    Only for the error message, after safetensors refused the file; "" when the header
    itself is unreadable.
    """
    try:
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            if length > min(os.path.getsize(path), 100 << 20):
                return ""
            header = json.loads(f.read(length))
        data_bytes = os.path.getsize(path) - 8 - length
        past_end, wrong_size = [], []
        for key, info in header.items():
            if key == "__metadata__":
                continue
            start, end = info["data_offsets"]
            count = 1
            for dim in info["shape"]:
                count *= dim
            if end > data_bytes:
                past_end.append(key)
            elif count * _ITEM_BYTES.get(info["dtype"], 0) != end - start:
                wrong_size.append(f"{key} {info['dtype']}{info['shape']} in {end - start} bytes")
    except Exception:  # noqa: BLE001 - a header this broken gets the plain message
        return ""
    parts = []
    if past_end:
        parts.append(f"; {len(past_end)} tensors lie past the end of the file (truncated): "
                     f"{sorted(past_end)[:10]}")
    if wrong_size:
        parts.append(f"; {len(wrong_size)} tensors whose shape/dtype do not match their "
                     f"bytes: {wrong_size[:10]}")
    return "".join(parts)
