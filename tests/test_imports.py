"""No two modules of geogrid import each other, directly or around a longer cycle; none is too long.

A module of ``geogrid/`` or ``api/`` over :data:`LONGEST` lines says why in the first paragraph
of its docstring, with the words ``long because`` (see "Module size" in docs/DESIGN.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "geogrid"
SERVICE = ROOT / "api"
LONGEST = 800
MARKER = "long because"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """geogrid modules ``path`` imports anywhere: top level, in functions, under TYPE_CHECKING.

    ``from geogrid.a import b`` imports the module ``geogrid.a.b`` when there is one, else the
    name ``b`` from ``geogrid.a``; the parent packages a module import runs on the way do not
    count.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, name, set(known)) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_import_graph_is_read() -> None:
    graph = import_graph()
    assert "geogrid.partition.graph" in graph["geogrid.partition.cuts"]
    assert "geogrid.partition.refine" in graph["geogrid.partition.solve"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, f"modules importing each other: {found}"


def too_long(text: str) -> bool:
    """More than LONGEST lines, and the docstring's first paragraph does not say why."""
    if len(text.splitlines()) <= LONGEST:
        return False
    docstring = ast.get_docstring(ast.parse(text)) or ""
    first_paragraph = docstring.strip().split("\n\n")[0]
    return MARKER not in " ".join(first_paragraph.split()).lower()


def test_the_length_rule_is_read() -> None:
    body = "x = 1\n" * LONGEST
    assert not too_long(body)
    assert too_long('"""Things."""\n' + body)
    assert too_long('"""Things.\n\nLong because the table is one piece."""\n' + body)
    assert not too_long('"""Things: long\nbecause the table is one piece.\n\nMore."""\n' + body)


def test_no_module_is_too_long() -> None:
    paths = sorted([*PACKAGE.rglob("*.py"), *SERVICE.rglob("*.py")])
    assert len(paths) > 50
    found = [
        f"{path.relative_to(ROOT)} ({len(text.splitlines())} lines)"
        for path in paths
        if too_long(text := path.read_text(encoding="utf-8"))
    ]
    assert not found, (
        f"modules over {LONGEST} lines: {found}; split each at the seam its section comments "
        f"name, or say why it stays whole in the first paragraph of its docstring "
        f"('... {MARKER} ...', see docs/DESIGN.md)"
    )
