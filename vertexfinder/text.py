"""Values and errors as text for one-line messages.

Every error the package raises or reports is one line naming the file, event and value; these
are the three ways it turns arbitrary values and exceptions into such a line. Imports nothing
from the package.
"""

from __future__ import annotations

__all__ = ["first_line", "one_line", "shown"]


def shown(value, limit: int = 80) -> str:
    """``repr(value)`` for a one-line message: cut at ``limit`` characters, huge integers by their size."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an integer beyond the digits Python converts to text; deep nesting
        return f"<a {value.bit_length()}-bit integer>" if isinstance(value, int) else f"<a large {type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text, limit: int | None = None) -> str:
    """``text`` on one line: whitespace runs (newlines included) become one space; cut at ``limit``
    characters when given (uproot's and Keras' messages span lines and can be very long)."""
    line = " ".join(str(text).split())
    return line if limit is None or len(line) <= limit else line[: limit - 3] + "..."


def first_line(exc: BaseException, limit: int = 200) -> str:
    """``"Type: first non-empty line of the message"`` of an exception, the line cut at ``limit``."""
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {text[:limit]}" if text else type(exc).__name__
