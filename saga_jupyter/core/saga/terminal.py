"""Terminal text out of a worker's strings: one line each, bounded, styled, controls removed.

An agent's output must not drive the viewer's terminal: every C0 and C1 control character but
tab and newline is dropped (an escape sequence loses its ESC and shows as text), and every
line is cut. Styles are SGR sequences made here only.
"""

from __future__ import annotations

import json
import re

RESET = "\x1b[0m"
BOLD, DIM, RED, GREEN, YELLOW, CYAN, MAGENTA = "1", "2", "31", "32", "33", "36", "35"
MAX_LINE_CHARS = 2000  # a rendered line longer than this is cut, with "…"
MAX_TEXT_LINES = 200  # of one text block; then "… (+N lines)"
RESULT_LINES = 3  # the first lines shown of a tool result, an error, a final result
ARG_CHARS = 160  # a tool call's argument
JSON_CHARS = 200  # a message shown as compact JSON
# C0 and C1 controls but tab and newline, and DEL: a worker's text must not drive a terminal.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def paint(style: str, text: str) -> str:
    """``text`` in an SGR style (``"1;31"``: bold red), reset after."""
    return f"\x1b[{style}m{text}{RESET}"


def plain(value: object, limit: int = ARG_CHARS) -> str:
    """A value as one short line of plain text (``?`` for none)."""
    if value is None:
        return "?"
    text = value if isinstance(value, str) else compact_json(value)
    return one_line(text, limit)


def one_line(value: object, limit: int = ARG_CHARS) -> str:
    """A value's first line, controls removed, cut at ``limit`` characters (``…``)."""
    text = value if isinstance(value, str) else ("" if value is None else compact_json(value))
    head, newline, _ = text[: limit * 4].partition("\n")
    head = CONTROLS.sub("", head.replace("\t", " ")).strip()
    if len(head) > limit or newline:
        return head[:limit] + "…"
    return head


def first_lines(value: object, count: int = RESULT_LINES) -> list[str]:
    """The first ``count`` non-empty lines of a text, cleaned and cut."""
    if not isinstance(value, str):
        return []
    lines = []
    for line in value[: (count + 20) * MAX_LINE_CHARS].split("\n"):
        if line.strip():
            lines.append(cut(CONTROLS.sub("", line.rstrip())))
            if len(lines) == count:
                break
    return lines


def text_lines(value: object) -> list[str]:
    """Assistant text as written (controls removed), at most :data:`MAX_TEXT_LINES` lines."""
    if not isinstance(value, str):
        return []
    lines = value.strip("\n").split("\n", MAX_TEXT_LINES)
    cleaned = [cut(CONTROLS.sub("", line)) for line in lines[:MAX_TEXT_LINES]]
    if len(lines) > MAX_TEXT_LINES:
        extra = lines[MAX_TEXT_LINES].count("\n") + 1
        cleaned.append(paint(DIM, f"… (+{count_lines(extra)})"))
    return cleaned


def count_lines(count: int) -> str:
    """``1 line``, ``2 lines``."""
    return "1 line" if count == 1 else f"{count} lines"


def cut(line: str, limit: int = MAX_LINE_CHARS) -> str:
    """``line`` cut at ``limit`` characters, with ``…`` and a style reset."""
    return line if len(line) <= limit else line[:limit] + "…" + RESET


def compact_json(value: object) -> str:
    """A value as one line of compact JSON, cut at :data:`JSON_CHARS`."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    return one_line(text, JSON_CHARS)


def clock(timestamp: object) -> str:
    """``09:12:03`` from an ISO 8601 timestamp, or ``""``."""
    if isinstance(timestamp, str) and len(timestamp) >= 19 and timestamp[10] == "T":
        clock = timestamp[11:19]
        if re.fullmatch(r"[0-9]{2}:[0-9]{2}:[0-9]{2}", clock):
            return clock
    return ""


def duration(seconds: float) -> str:
    """``19m45s``, ``1h02m03s`` or ``40s``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
