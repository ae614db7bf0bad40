"""Import graph of the project (AST only, nothing imported): no cycle among its modules,
counting module-level and function-level imports, and no module reaching into a private
(``_name``) module or name that belongs to another package."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (folder scanned, module-name prefix): the packages, and the script folders whose files
# import each other as top-level modules (python deploy/python/predict_cls.py puts its folder
# first on sys.path).
SOURCES = [("ppcls_ext", "ppcls_ext"), ("ppcls_infer", "ppcls_infer"), ("tools", None),
           ("tools/det", None), ("deploy/python", None)]


def _modules():
    """{module name: (path, is_package)} for every project source file."""
    found = {}
    for folder, prefix in SOURCES:
        base = os.path.join(ROOT, folder)
        walk = os.walk(base) if prefix else [(base, [], os.listdir(base))]
        for dirpath, _, files in walk:
            for name in files:
                if not name.endswith(".py"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), base)[:-3].split(os.sep)
                is_package = rel[-1] == "__init__"
                parts = ([prefix] if prefix else []) + (rel[:-1] if is_package else rel)
                module = ".".join(parts)
                if not prefix:
                    module = f"{folder.replace('/', '.')}:{module}"  # scripts: their own space
                found[module] = (os.path.join(dirpath, name), is_package)
    return found


def _resolve(module, is_package, node):
    """Absolute module name of an ImportFrom's ``from X`` part."""
    if not node.level:
        return node.module
    package = module.split(":")[-1].split(".")
    if not is_package:
        package = package[:-1]
    package = package[:len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def _edges(modules):
    """[(importer, imported project module, name or None, line)] for every import."""
    def lookup(importer, name):
        if name in modules:
            return name
        space = importer.split(":")[0] + ":" if ":" in importer else None
        if space and space + name in modules:  # a script importing a sibling script
            return space + name
        return None

    edges = []
    for module, (path, is_package) in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = lookup(module, alias.name)
                    if target:
                        edges.append((module, target, None, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, is_package, node)
                for alias in node.names:
                    sub = lookup(module, f"{base}.{alias.name}")
                    if sub:  # ``from package import submodule``
                        edges.append((module, sub, None, node.lineno))
                    elif lookup(module, base):
                        edges.append((module, lookup(module, base), alias.name, node.lineno))
    return edges


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def _package(module):
    return module.rsplit(".", 1)[0] if "." in module else ""


def test_graph_sees_the_project():
    modules = _modules()
    edges = _edges(modules)
    assert {"ppcls_ext.det.commands", "ppcls_infer.cli", "tools:train",
            "deploy.python:predict_cls"} <= set(modules)
    pairs = {(a, b) for a, b, _, _ in edges}
    assert ("ppcls_ext.det.commands", "ppcls_infer.cli") in pairs
    assert ("deploy.python:predict_cls", "deploy.python:backends") in pairs
    assert ("tools:train", "ppcls_ext.commands") in pairs


def test_no_import_cycle():
    modules = _modules()
    graph = {}
    for importer, imported, _, _ in _edges(modules):
        # a package's own __init__ importing its submodules is how Python packages work; a
        # submodule importing its package's __init__ back is what makes a cycle
        if importer != imported:
            graph.setdefault(importer, set()).add(imported)
    assert _cycles(graph) == []


def test_no_module_reaches_into_another_packages_private_names():
    modules = _modules()
    bad = []
    for importer, imported, name, line in _edges(modules):
        owner = _package(imported.split(":")[-1])
        mine = importer.split(":")[-1] if modules[importer][1] else _package(
            importer.split(":")[-1])
        inside = mine == owner or mine.startswith(owner + ".") if owner else True
        private_module = imported.split(".")[-1].startswith("_") and \
            not imported.endswith("__init__")
        private_name = name is not None and name.startswith("_") and not name.startswith("__")
        if (private_module or private_name) and not inside:
            bad.append(f"{modules[importer][0]}:{line}: {importer} -> {imported}"
                       f"{'.' + name if name else ''}")
    assert bad == []


def _top_package(module):
    """``ppcls_ext.engine.loops`` -> ``ppcls_ext.engine``: the first-level subpackage (or
    top-level module) of a project package that a module belongs to; scripts stay themselves."""
    if ":" in module:
        return module
    return ".".join(module.split(".")[:2])


def test_no_package_level_import_cycle():
    """No cycle between first-level packages either (``ppcls_ext.engine`` importing
    ``ppcls_ext.slim`` while slim imports the engine's data or config): each package must be
    usable without importing the one that depends on it."""
    graph = {}
    for importer, imported, _, _ in _edges(_modules()):
        a, b = _top_package(importer), _top_package(imported)
        if a != b:
            graph.setdefault(a, set()).add(b)
    assert _cycles(graph) == []
