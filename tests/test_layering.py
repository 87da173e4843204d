"""The package's layering, read from the source with ``ast``: no import circle anywhere in
``vertexfinder``, ``generators`` and ``models`` (imports inside functions count), and every
package imports only what its ``__init__`` docstring's "May import:" paragraph allows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parents[1]
TOP = ("vertexfinder", "generators", "models")


def module_files() -> dict[str, Path]:
    out = {}
    for top in TOP:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = module_files()
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def imports_of(name: str) -> set[str]:
    """The package's modules ``name`` imports anywhere in its source (``from p import m`` is
    module ``p.m`` when that is a module, else ``p``)."""
    path = MODULES[name]
    package = name if name in PACKAGES else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # ``import a.b.c`` of a name inside a module
                t = t.rpartition(".")[0]
            if t and t != name and not name.startswith(t + "."):  # a package's own parents load with it
                out.add(t)
    return out


GRAPH = {name: imports_of(name) for name in MODULES}


def test_no_import_circle():
    names = sorted(MODULES)
    index = {n: i for i, n in enumerate(names)}
    rows = [index[a] for a in names for b in GRAPH[a]]
    cols = [index[b] for a in names for b in GRAPH[a]]
    adjacency = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(names), len(names)))
    n, labels = connected_components(adjacency, directed=True, connection="strong")
    circles = [sorted(names[i] for i in np.flatnonzero(labels == k)) for k in range(n)]
    assert [c for c in circles if len(c) > 1] == []


def allowed(package: str) -> list[str]:
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text())) or ""
    found = re.search(r"May import:(.*?)(?:\n\s*\n|\Z)", doc, re.S)
    assert found, f"{package}/__init__.py: its docstring has no 'May import:' paragraph"
    return re.findall(r"``([A-Za-z_][\w.]*)``", found.group(1))


def owner(name: str) -> str:
    """The package whose rule covers module ``name``: the innermost package holding it."""
    return name if name in PACKAGES else name.rpartition(".")[0]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_package_imports_only_what_its_docstring_allows(package):
    rules = allowed(package)
    bad = []
    for name in MODULES:
        if owner(name) != package:
            continue
        for target in sorted(GRAPH[name]):
            if target == package or target.startswith(package + "."):
                continue  # its own modules and subpackages
            if not any(target == r or target.startswith(r + ".") for r in rules):
                bad.append(f"{name} imports {target}")
    assert bad == [], f"{package} may import {rules}"


def test_the_graph_is_read_from_real_imports():
    """The reader sees relative, absolute and in-function imports (a check that cannot pass on an empty graph)."""
    assert "vertexfinder.finder.config" in GRAPH["vertexfinder.finder.core"]  # from .config import ...
    assert "generators.rollout" in GRAPH["vertexfinder.finder.walk"]  # inside a function
    assert "vertexfinder.errors" in GRAPH["vertexfinder.finder.match"]  # from ..errors import ...
    assert not any(t.startswith("vertexfinder") for m in MODULES if m.startswith("generators") for t in GRAPH[m])
