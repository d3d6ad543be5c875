r"""One JSON line of a worker's ``.jsonl`` at a time, within bounds, whatever the file holds.

The file is written by an agent running arbitrary commands. :class:`LineBuffer` hands on only
``\n``-terminated lines (a partial line waits for the next piece) and drops a line over
:data:`MAX_LINE_BYTES` as it comes, never holding more of it than that. :func:`parse_message`
parses one line into a message, or says why it is none, without ever raising: JSON nested
deeper than :data:`MAX_DEPTH` is refused before it is parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, AnyStr, Generic

MAX_LINE_BYTES = 16 << 20  # a longer line is skipped: no message SAGA needs is this large
MAX_DEPTH = 32  # JSON nested deeper than this is not parsed (the contract's bound)

# The depth check sees only brackets outside strings: every other byte is deleted.
_STRUCTURE = b'[]{}"'
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in _STRUCTURE)
_INNERMOST = re.compile(rb"\[\]|\{\}")


class LineBuffer(Generic[AnyStr]):
    r"""Complete lines out of text or bytes appended in pieces; ``size`` measures a piece.

    >>> lines = LineBuffer(b"\n")
    >>> lines.split(b"one\ntw"), lines.split(b"o\n"), lines.held
    ([(b'one', 3)], [(b'two', 3)], 0)
    """

    def __init__(self, newline: AnyStr, size: Callable[[AnyStr], int] = len) -> None:
        self._newline: AnyStr = newline
        self._size: Callable[[AnyStr], int] = size
        self._parts: list[AnyStr] = []  # the partial line held
        #: The size of the partial line so far (held, or being dropped).
        self.held = 0
        self._dropping = False  # the partial line is over MAX_LINE_BYTES: dropped as it comes

    def split(self, data: AnyStr) -> list[tuple[AnyStr | None, int]]:
        """The lines ``data`` completes, each with its size: ``None`` for one over the limit.

        Each piece is scanned once and each line joined once: the work is linear in the
        data however it is split.
        """
        lines: list[tuple[AnyStr | None, int]] = []
        start = 0
        while (newline := data.find(self._newline, start)) >= 0:
            piece = data[start:newline]
            size = self.held + self._size(piece)
            if self._dropping or size > MAX_LINE_BYTES:
                lines.append((None, size))
            elif self._parts:
                self._parts.append(piece)
                lines.append((self._newline[:0].join(self._parts), size))
            else:
                lines.append((piece, size))
            self._parts, self.held, self._dropping = [], 0, False
            start = newline + 1
        if start < len(data):
            rest = data[start:]
            self.held += self._size(rest)
            if self._dropping or self.held > MAX_LINE_BYTES:
                self._parts, self._dropping = [], True  # never held whole
            else:
                self._parts.append(rest)
        return lines


def nesting_ok(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text ``raw`` nests at most ``limit`` deep (for valid JSON; C speed).

    >>> nesting_ok(b'{"a": [1, "[[[[", {}]}', 3), nesting_ok(b"[[[[]]]]", 3)
    (True, False)
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return True
    # Escaped backslashes first, then escaped quotes: what is left of the quotes delimits strings.
    structure = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    structure = b"".join(structure.split(b'"')[::2])
    # Each pass drops the innermost (adjacent) pairs: one level of depth.
    for _ in range(limit):
        if not structure:
            return True
        structure = _INNERMOST.sub(b"", structure)
    return not structure


def parse_message(raw: bytes, text: str | None = None) -> tuple[dict[str, Any] | None, str]:
    """One line (without its newline) as a message, or ``None`` and why not.

    ``text``: the line already decoded, if it is. Never raises: a line that is not JSON, nests
    deeper than :data:`MAX_DEPTH`, holds a number Python refuses (over 4300 digits) or is not
    an object gives ``None`` with a short reason.
    """
    if not nesting_ok(raw):
        return None, f"nested deeper than {MAX_DEPTH}"
    try:
        value = json.loads(raw.decode("utf-8", errors="replace") if text is None else text)
    except (ValueError, RecursionError):
        return None, "not JSON"
    if not isinstance(value, dict):
        return None, "not an object"
    return value, ""
