"""The ``outputPreview`` of a session: the last few non-empty lines, read from the file's tail.

(A today's worker's preview is its last messages rendered: :mod:`.saga.recent`.)
"""

from __future__ import annotations

import os

from .text import resolve_carriage_returns, split_lines
from .watch.files import open_regular

PREVIEW_LINES = 5
PREVIEW_CHARS = 500
FIRST_READ = 8 * 1024
# Bounds the cost of a preview whatever the file holds (a 1 GiB file of blank lines included).
MAX_READ = 64 * 1024


def read_preview(path: str | os.PathLike[str], size: int | None = None) -> str | None:
    """The last ``PREVIEW_LINES`` non-empty plain lines of a file, at most ``PREVIEW_CHARS`` long.

    Reads at most ``MAX_READ`` bytes from the end of the file. Returns ``None`` when there is
    no regular file (see :func:`~saga_jupyter.core.watch.files.open_regular`) or it shows no text.
    """
    try:
        fd, info = open_regular(path)
    except OSError:
        return None
    try:
        if size is None:
            size = info.st_size
        window = FIRST_READ
        while True:
            start = max(0, size - window)
            # A window that starts mid-line drops that line, unless it is all there is to show.
            partial = start > 0 and window < MAX_READ
            lines = _last_lines(os.pread(fd, size - start, start), partial_first=partial)
            if len(lines) >= PREVIEW_LINES or start == 0 or window >= MAX_READ:
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
