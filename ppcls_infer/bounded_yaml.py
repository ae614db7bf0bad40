"""YAML read as plain data, with aliases expanded to a bounded size.

PyYAML's ``SafeLoader`` builds only plain data (no ``!!python/...`` objects), but an alias
(``*a``) is one more reference to its anchor's node: a few kilobytes of nested aliases (the
"billion laughs" file) stand for 10^9 values once anything walks or copies the result, as
PaddleClas's ``create_attr_dict`` and ``copy.deepcopy`` do. ``BoundedSafeLoader`` counts the
nodes the document stands for with every alias expanded (memoised per node, so the count
itself is cheap) before constructing anything, and refuses a document above ``max_nodes``
(default ``MAX_NODES``) or one whose aliases form a cycle.

Paddle-free: used by the classification config loader, the detection config loader and the
readers of an export's ``inference.yml``.
"""
import yaml

# Expanded size limit: the largest PaddleClas/PaddleDetection configs hold a few thousand
# nodes; a million leaves room for long label maps while keeping any walk of the result
# well under a second and ~100 MB.
MAX_NODES = 1_000_000


class YAMLBombError(yaml.YAMLError):
    """A YAML document whose aliases expand past the size limit, or refer to themselves."""


def expanded_size(root, limit=MAX_NODES):
    """Number of nodes ``root`` stands for with every alias expanded (a node shared by k
    references counts k times). Raises YAMLBombError above ``limit`` or on a cycle."""
    size = {}
    on_path = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > limit:
                raise YAMLBombError(f"the document expands to more than {limit} values "
                                    f"(aliases nested {_where(node)}); refused")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise YAMLBombError(f"an alias refers to a node containing itself {_where(node)}; "
                                "refused")
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise YAMLBombError("an alias refers to a node containing itself "
                                    f"{_where(child)}; refused")
            if id(child) not in size:
                stack.append((child, False))
    return size[id(root)]


def _children(node):
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return ()


def _where(node):
    mark = getattr(node, "start_mark", None)
    return f"at line {mark.line + 1}" if mark is not None else ""


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that checks a document's expanded size before constructing it."""

    max_nodes = MAX_NODES

    def construct_document(self, node):
        expanded_size(node, self.max_nodes)
        return super().construct_document(node)


def safe_load(stream, loader=BoundedSafeLoader):
    """``yaml.safe_load`` with the alias bound. ``stream``: str, bytes or an open file."""
    return yaml.load(stream, Loader=loader)


def load_file(path, loader=BoundedSafeLoader):
    """Plain data of the YAML file ``path`` (None for an empty file)."""
    with open(path, "rb") as f:
        return safe_load(f, loader)
