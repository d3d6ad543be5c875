"""The last messages a today's worker wrote, rendered only when asked: its ``outputPreview``.

The preview of a ``.jsonl`` is its last lines as a person reads them (the transcript's, as
plain text). Rendering is the cost, so the reader keeps its last few messages as it parses them
and each is rendered once, when a preview first needs it: a line appended between two scans
costs one rendering, not the five lines' and a read of the file's tail again.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..text import ANSI_PATTERN
from .transcript import render_line

PREVIEW_LINES = 5
PREVIEW_CHARS = 500
KEPT = 8  # messages: a few render to nothing (an empty text block) or to several lines


class Recent:
    """The last :data:`KEPT` messages (parsed, or the raw line that did not parse)."""

    def __init__(self) -> None:
        self._kept: deque[list[Any]] = deque(maxlen=KEPT)  # [message, its plain lines or None]

    def add(self, message: dict[str, Any] | bytes) -> None:
        """Keep one more complete line's message."""
        self._kept.append([message, None])

    def preview(self) -> str | None:
        """The last :data:`PREVIEW_LINES` non-empty lines rendered, at most 500 characters."""
        lines: list[str] = []
        for item in reversed(self._kept):
            if item[1] is None:
                shown = ANSI_PATTERN.sub("", render_line(item[0])).splitlines()
                item[1] = [text.rstrip() for text in shown if text.strip()]
            lines[:0] = item[1]
            if len(lines) >= PREVIEW_LINES:
                break
        return "\n".join(lines[-PREVIEW_LINES:])[-PREVIEW_CHARS:] or None
