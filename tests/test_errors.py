"""The error taxonomy: every error the library raises on purpose names its branch."""

from __future__ import annotations

import ast
from pathlib import Path

import geogrid
from geogrid import errors

PACKAGE = Path(geogrid.__file__).parent


def _bare_raises(source: str) -> list[int]:
    """Lines of ``raise GeogridError(...)`` (or ``raise GeogridError``) in ``source``."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name == "GeogridError":
            lines.append(node.lineno)
    return lines


def test_the_scan_finds_a_bare_raise() -> None:
    source = "def f():\n    raise GeogridError('x')\n\ndef g():\n    raise errors.GeogridError\n"
    assert _bare_raises(source) == [2, 5]
    assert _bare_raises("raise InvalidInputError('x')\n") == []


def test_no_bare_geogrid_error_is_raised() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _bare_raises(path.read_text(encoding="utf-8"))
    ]
    assert found == [], (
        "raise one of the taxonomy's classes (InvalidInputError or a subclass, ConflictError, "
        f"StoreUnavailableError, ConfigurationError, StoreError), not GeogridError: {found}"
    )


def test_every_error_class_is_in_one_branch() -> None:
    branches = (
        errors.InvalidInputError,
        errors.ConflictError,
        errors.StoreError,
        errors.ConfigurationError,
    )
    for name in errors.__all__:
        cls = getattr(errors, name)
        if cls is errors.GeogridError or cls in branches:
            continue
        assert sum(issubclass(cls, branch) for branch in branches) == 1, name
