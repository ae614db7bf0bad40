"""Robust image decoding lives in the Paddle-free ``ppcls_infer`` package (deployment decodes
with it too); re-exported here for the training package."""
from ppcls_infer.decode import CorruptImageError, decode_image  # noqa: F401
