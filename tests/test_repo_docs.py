"""The documentation as a user's clone sees it: every relative link in README.md, docs/*.md,
benchmarks/*.md and benchmarks/results/*.md points at a file (and heading) of the repository;
nothing committed names an internal issue number or a file outside the repository; no test
module imports another test module (shared helpers live in tests/*_helpers.py) and none
expects a bare ``Exception``."""
import ast
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = sorted([os.path.join(ROOT, "README.md")] + glob.glob(os.path.join(ROOT, "docs", "*.md"))
              + glob.glob(os.path.join(ROOT, "benchmarks", "*.md"))
              + glob.glob(os.path.join(ROOT, "benchmarks", "results", "*.md")))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def _slug(heading):
    """GitHub's anchor for a heading: lower case, code/emphasis marks and punctuation other than
    - and _ dropped, spaces to -."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path):
    with open(path, encoding="utf-8") as f:
        text = FENCE.sub("", f.read())
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M)}


def _links(path):
    with open(path, encoding="utf-8") as f:
        text = FENCE.sub("", f.read())
    for target in LINK.findall(text):
        if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not files
            yield target


def test_the_documents_exist():
    names = [os.path.relpath(p, ROOT) for p in DOCS]
    assert "README.md" in names and os.path.join("docs", "architecture.md") in names
    assert os.path.isfile(os.path.join(ROOT, "LICENSE"))
    assert os.path.isfile(os.path.join(ROOT, "CITATION.cff"))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_point_at_files_and_headings(doc):
    broken = []
    for target in _links(doc):
        path, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not full.startswith(ROOT + os.sep) or not os.path.exists(full):
            broken.append(f"{target}: no such file in the repository")
        elif anchor and full.endswith(".md") and anchor not in _anchors(full):
            broken.append(f"{target}: no heading #{anchor} in {os.path.relpath(full, ROOT)}")
    assert not broken, f"{os.path.relpath(doc, ROOT)}: " + "; ".join(broken)


def test_slug_follows_github():
    assert _slug("Where batch-1 time goes, and the 0.35x goal") == \
        "where-batch-1-time-goes-and-the-035x-goal"
    assert _slug("Quick start: digit scenes on the CPU") == "quick-start-digit-scenes-on-the-cpu"
    assert _slug("Export (`tools/export_model.py`)") == "export-toolsexport_modelpy"


# Built from pieces so that this file does not match itself.
FORBIDDEN = [re.compile("iss" + r"ue\s*#\s*\d", re.I), re.compile(r"\.\./" + "shared"),
             re.compile("SP" + r"EC\.md")]
TREE = ("README.md", "configs", "docs", "benchmarks", "tests", "tools", "deploy", "ppcls_ext",
        "ppcls_infer")
TEXT = (".md", ".py", ".yaml", ".yml", ".txt", ".sh", ".cff", ".toml")


def _tree_files():
    for top in TREE:
        full = os.path.join(ROOT, top)
        if os.path.isfile(full):
            yield full
        for base, _, files in os.walk(full):
            for name in files:
                if name.endswith(TEXT):
                    yield os.path.join(base, name)


def test_no_internal_issue_numbers_or_paths_outside_the_repository():
    hits = []
    for path in _tree_files():
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if any(p.search(line) for p in FORBIDDEN):
                    hits.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()[:80]}")
    assert not hits, "\n".join(hits)


def test_no_test_module_imports_another_test_module():
    offenders = []
    for path in glob.glob(os.path.join(ROOT, "tests", "*.py")):
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{os.path.basename(path)}:{node.lineno} imports {n}"
                          for n in names if n.split(".")[0].startswith("test_")]
    assert not offenders, "; ".join(offenders)


def test_no_test_expects_a_bare_exception():
    """``pytest.raises(Exception)`` passes on any bug; tests name the exception they expect."""
    offenders = []
    for path in glob.glob(os.path.join(ROOT, "tests", "*.py")):
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.raises" and \
                    node.args and ast.unparse(node.args[0]) in ("Exception", "BaseException"):
                offenders.append(f"{os.path.basename(path)}:{node.lineno}")
    assert not offenders, "pytest.raises(Exception) at " + ", ".join(offenders)
