"""Writing benchmark figures into docs/BENCHMARKS.md, one section per benchmark."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, heading: str, section: str) -> None:
    """Put ``section`` (starting ``## heading``) in place of that section of ``path``.

    Appended when the file has no such section; the file is created when missing.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(f"\n## {heading}\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end:] if end >= 0 else "")
    path.write_text(text, encoding="utf-8")
