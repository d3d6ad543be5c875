"""Terminal output as plain text: ANSI sequences removed, carriage-return overwrites resolved."""

from __future__ import annotations

import re

# CSI (colours, cursor moves), OSC (titles, links; ended by BEL or ST), and two-byte escapes.
ANSI_PATTERN = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
)
# Control characters other than tab, newline and carriage return, once escapes are gone.
CONTROL_PATTERN = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


def strip_ansi(text: str) -> str:
    r"""Remove ANSI escape sequences.

    >>> strip_ansi("\x1b[1;32mok\x1b[0m")
    'ok'
    """
    return ANSI_PATTERN.sub("", text)


def resolve_carriage_returns(line: str) -> str:
    r"""Render what a terminal shows for one line where ``\r`` returns to column 0.

    >>> resolve_carriage_returns("10%\r20%\r100%")
    '100%'
    >>> resolve_carriage_returns("abcdef\rXY")
    'XYcdef'
    """
    if "\r" not in line:
        return line
    shown = ""
    for part in line.split("\r"):
        shown = part + shown[len(part) :]
    return shown


def plain_lines(text: str) -> list[str]:
    """Split terminal output into the plain lines a terminal would show."""
    text = CONTROL_PATTERN.sub("", strip_ansi(text.replace("\r\n", "\n")))
    return [resolve_carriage_returns(line) for line in text.split("\n")]
