"""The E-ConvNeXt authors' checkpoints onto this implementation's parameter names.

Kept beside the model, as timm keeps ``checkpoint_filter_fn`` in its model files: the
renames below follow the authors' reference code's layer names (``docs/architecture.md``).
Reading and writing the files is ``ppcls_ext.io``'s job; this module only maps names and
shapes (``tools/convert_weights.py --arch`` runs it).
"""
import re

import numpy as np

# (authors' name pattern, ours). Applied in order; the first match wins.
_AUTHORS_RENAMES = [
    (r"^Down_Conv\.conv(\d)\.", r"stem.conv\1."),
    (r"^stages\.(\d+)\.down\.0\.", r"stages.\1.down."),
    (r"^head\.fc_cls\.", r"head."),
]
# Parameters the authors' code creates but never uses: dropped on purpose.
_AUTHORS_UNUSED = re.compile(r"\.gamma$")


def _shape(value):
    return tuple(value.shape)


def _rename_authors_key(key):
    for pattern, repl in _AUTHORS_RENAMES:
        new, count = re.subn(pattern, repl, key)
        if count:
            return new
    return key


def _fit_shape(value, want):
    """Return ``value`` as an array of shape ``want``, or None if it cannot fit.

    The only reshaping accepted is a Linear weight ([in, out] in Paddle) standing for a 1x1
    convolution ([out, in, 1, 1]): reference code may write the pointwise convs either way.
    """
    array = np.asarray(value)
    if tuple(array.shape) == tuple(want):
        return array
    if array.ndim == 2 and len(want) == 4 and tuple(want[2:]) == (1, 1) \
            and tuple(array.shape) == (want[1], want[0]):
        return array.T.reshape(want)
    return None


def convert_authors_state_dict(state, model_state):
    """Map the authors' checkpoint onto ``model_state``'s names.

    Returns (converted, report) where report lists ``unmapped`` source keys, ``dropped``
    (known-unused) keys, ``missing`` model keys and ``shape_errors``; the caller decides
    whether any of these is fatal.
    """
    converted, unmapped, dropped, shape_errors = {}, [], [], []
    for key, value in state.items():
        if _AUTHORS_UNUSED.search(key):
            dropped.append(key)
            continue
        new_key = _rename_authors_key(key)
        if new_key not in model_state:
            unmapped.append(key)
            continue
        want = _shape(model_state[new_key])
        fitted = _fit_shape(value.numpy() if hasattr(value, "numpy") else value, want)
        if fitted is None:
            shape_errors.append(f"{key} -> {new_key}: {_shape(value)} vs model {want}")
            continue
        converted[new_key] = fitted
    report = dict(unmapped=unmapped, dropped=dropped, shape_errors=shape_errors,
                  missing=sorted(set(model_state) - set(converted)))
    return converted, report
