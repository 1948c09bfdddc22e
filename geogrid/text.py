r"""Text fit to store and to send back: the one rule for every free-text value.

PostgreSQL cannot hold a NUL character in ``text``, and a lone surrogate (half of a UTF-16
pair, as ``"\ud800"`` in JSON) cannot be written as UTF-8 at all; the embedded store would
keep both. Every text a caller gives — descriptions, names, notes, filters — is checked here,
so that both stores accept and refuse the same values.
"""

from __future__ import annotations

import re

__all__ = ["text_problem"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    r"""What makes ``text`` unfit to store or send back, or ``None``.

    Examples
    --------
    >>> text_problem("楼道堆放杂物") is None
    True
    >>> text_problem("a\x00b")
    'holds a NUL character (\\u0000): remove it'
    >>> text_problem("\ud800")
    'holds a lone surrogate (U+D800), which is not text: send UTF-8'
    """
    if "\x00" in text:
        return "holds a NUL character (\\u0000): remove it"
    found = _SURROGATE.search(text)
    if found is not None:
        return f"holds a lone surrogate (U+{ord(found.group()):04X}), which is not text: send UTF-8"
    return None
