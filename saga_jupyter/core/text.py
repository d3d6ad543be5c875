"""Terminal output as plain text: ANSI sequences removed, carriage-return overwrites resolved."""

from __future__ import annotations

import re

# CSI (colours, cursor moves), OSC (titles, links; ended by BEL or ST), and two-byte escapes.
ANSI_PATTERN = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
)
# Erase from the cursor to the end of the line (``ESC[K``, ``ESC[0K``) or all of it (``ESC[2K``;
# after a ``\r``, the usual case, the same thing).
ERASE_IN_LINE = re.compile(r"\x1b\[[02]?K")
# Control characters other than tab, newline and carriage return, once escapes are gone.
CONTROL_PATTERN = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


def strip_ansi(text: str) -> str:
    r"""Remove ANSI escape sequences.

    >>> strip_ansi("\x1b[1;32mok\x1b[0m")
    'ok'
    """
    return ANSI_PATTERN.sub("", text)


def resolve_carriage_returns(line: str) -> str:
    r"""Render what a terminal shows for one line of its output.

    ``\r`` returns to column 0 and later text overwrites; erase-in-line (``ESC[K``,
    ``ESC[2K``) clears from there to the end; other escapes and control characters are dropped.

    >>> resolve_carriage_returns("10%\r20%\r100%")
    '100%'
    >>> resolve_carriage_returns("abcdef\rXY")
    'XYcdef'
    >>> resolve_carriage_returns("Downloading 100% of big.tar.gz\r\x1b[2Kdone")
    'done'
    """
    if "\r" not in line and "\x1b" not in line:
        return CONTROL_PATTERN.sub("", line)
    shown = ""
    for part in line.split("\r"):
        cursor = 0
        for index, piece in enumerate(ERASE_IN_LINE.split(part)):
            if index:
                shown = shown[:cursor]
            piece = CONTROL_PATTERN.sub("", strip_ansi(piece))
            shown = shown[:cursor] + piece + shown[cursor + len(piece) :]
            cursor += len(piece)
    return shown


def split_lines(text: str) -> list[str]:
    r"""Terminal output's lines, each as written (``\r\n`` ends a line too)."""
    return text.replace("\r\n", "\n").split("\n")


def plain_lines(text: str) -> list[str]:
    """Split terminal output into the plain lines a terminal would show."""
    return [resolve_carriage_returns(line) for line in split_lines(text)]
