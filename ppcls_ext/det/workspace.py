"""Loading several PaddleDetection configs in one process without one leaking into the next.

``ppdet.core.workspace.load_config`` merges each file into one process-wide dictionary
(``global_config``), recursively: a key that the first config sets and the second does not
mention survives into the second. Loading a Momentum config (``optimizer: {type: Momentum,
momentum: 0.9}``) and then an AdamW one leaves ``momentum`` in the AdamW arguments and
``AdamW(momentum=...)`` fails; a neck switch set by one variant silently applies to the next.
``load_fresh_config`` first returns every registered module to its declared defaults and drops
every other key, so each config is read as if in a fresh process. Tools that read one config per
process do not need it; tools and tests that read several do.
"""
__all__ = ["reset_workspace", "load_fresh_config"]


def reset_workspace():
    """Forget every loaded config: registered modules keep only their schema defaults, other
    top-level keys are removed. Returns the number of keys removed."""
    from ppdet.core.config.schema import SchemaDict
    from ppdet.core.workspace import global_config

    removed = 0
    for key in list(global_config.keys()):
        value = dict.__getitem__(global_config, key)
        if isinstance(value, SchemaDict):
            dict.clear(value)  # values set by configs; the schema (defaults) stays
        else:
            del global_config[key]
            removed += 1
    return removed


def load_fresh_config(path):
    """``ppdet.core.workspace.load_config(path)`` as in a fresh process (see module doc)."""
    from ppdet.core.workspace import load_config

    reset_workspace()
    return load_config(path)
