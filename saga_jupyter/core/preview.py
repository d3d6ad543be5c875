"""The ``outputPreview`` of a session: the last few non-empty lines, read from the file's tail.

A today's worker's messages are previewed as a person reads them: each of the last complete
lines rendered by the one transcript renderer, as plain text.
"""

from __future__ import annotations

import os

from .files import open_regular
from .saga.transcript import render_line
from .text import ANSI_PATTERN, resolve_carriage_returns, split_lines

PREVIEW_LINES = 5
PREVIEW_CHARS = 500
FIRST_READ = 8 * 1024
MESSAGES_READ = 16 * 1024  # a today's worker's messages: ~1 KiB a line, a long result more
# Bounds the cost of a preview whatever the file holds (a 1 GiB file of blank lines included).
MAX_READ = 64 * 1024


def read_preview(
    path: str | os.PathLike[str], size: int | None = None, messages: bool = False
) -> str | None:
    """The last ``PREVIEW_LINES`` non-empty plain lines of a file, at most ``PREVIEW_CHARS`` long.

    ``messages``: the file holds JSON messages (``.jsonl``), shown rendered.

    Reads at most ``MAX_READ`` bytes from the end of the file. Returns ``None`` when there is
    no regular file (see :func:`~saga_jupyter.core.files.open_regular`) or it shows no text.
    """
    try:
        fd, info = open_regular(path)
    except OSError:
        return None
    try:
        if size is None:
            size = info.st_size
        window = MESSAGES_READ if messages else FIRST_READ
        while True:
            start = max(0, size - window)
            # A window that starts mid-line drops that line, unless it is all there is to show.
            partial = start > 0 and window < MAX_READ
            tail = os.pread(fd, size - start, start)
            lines = _last_messages(tail, start > 0) if messages else _last_lines(tail, partial)
            # Messages are rendered, not just split: one window, not a second, larger one.
            if len(lines) >= PREVIEW_LINES or start == 0 or window >= MAX_READ or messages:
                break
            window = min(window * 4, MAX_READ)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not lines:
        return None
    return "\n".join(lines)[-PREVIEW_CHARS:]


def _last_lines(tail: bytes, partial_first: bool) -> list[str]:
    raw = split_lines(tail.decode("utf-8", errors="replace"))
    if partial_first:
        raw = raw[1:]  # starts mid-line (maybe mid-character): not a whole line
    lines: list[str] = []
    for line in reversed(raw):  # from the end: only the lines kept are rendered
        shown = resolve_carriage_returns(line)
        if shown.strip():
            lines.append(shown.rstrip())
            if len(lines) == PREVIEW_LINES:
                break
    return lines[::-1]


def _last_messages(tail: bytes, partial_first: bool) -> list[str]:
    """The last non-empty lines of the rendering of the complete messages in ``tail``."""
    raw = tail.split(b"\n")[1 if partial_first else 0 : -1]  # whole lines only
    lines: list[str] = []
    for line in reversed(raw):
        if not line.strip():
            continue
        shown = ANSI_PATTERN.sub("", render_line(line)).splitlines()
        lines[:0] = [text.rstrip() for text in shown if text.strip()]
        if len(lines) >= PREVIEW_LINES:
            break
    return lines[-PREVIEW_LINES:]
