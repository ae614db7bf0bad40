"""The config-name factory lives in the Paddle-free ``ppcls_infer`` package (the deploy
predictor builds its preprocessing ops with it); re-exported here for the training package."""
from ppcls_infer.factory import (  # noqa: F401
    build_op, check_keywords, op_keywords, split_entry, unknown_keys_message)
