"""Weights as ``.safetensors``: a JSON header plus raw tensor bytes, nothing to unpickle.

Reading and writing go through safetensors' Paddle API (``safetensors.paddle``); the Rust
parser checks the header (offsets, sizes, dtypes) and rejects a truncated file. What is
added: every tensor's SHA-256 goes into the header's metadata when this project writes the
file, and is checked on reading, so that bytes changed after writing are reported by tensor
name (safetensors itself stores no checksum). Files from elsewhere (no such metadata) load
unchecked, as with any other safetensors reader.
"""
import hashlib
import os

import numpy as np

SUFFIX = ".safetensors"
_HASH_PREFIX = "sha256:"


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
    from safetensors.paddle import save_file

    tensors = _as_tensors(state, path)
    metadata = {"format": "pd"}
    metadata.update({_HASH_PREFIX + key: _digest(t) for key, t in tensors.items()})
    save_file(tensors, path, metadata=metadata)


def load_safetensors(path):
    """name -> paddle.Tensor (CPU); ValueError naming the file (and keys) if it is broken."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="paddle", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        raise ValueError(f"Cannot read {path!r} ({size} bytes): not a valid safetensors "
                         f"file, truncated or its header was altered ({exc})") from None
    wrong = [key for key, tensor in state.items()
             if _HASH_PREFIX + key in metadata and metadata[_HASH_PREFIX + key] != _digest(tensor)]
    gone = sorted(k[len(_HASH_PREFIX):] for k in metadata
                  if k.startswith(_HASH_PREFIX) and k[len(_HASH_PREFIX):] not in state)
    if gone:
        raise ValueError(f"{path!r} was altered after it was written: {len(gone)} tensors "
                         f"recorded in its header are missing: {gone[:10]}")
    if wrong:
        raise ValueError(f"{path!r} was altered after it was written: the bytes of "
                         f"{len(wrong)} tensors do not match their recorded SHA-256: {wrong[:10]}")
    return state
