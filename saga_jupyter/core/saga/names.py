"""SAGA session names, of both generations, and the output file each one names.

The seeds' SAGA (v3) names a session ``saga__<epic-slug>__<story-slug>__<suffix>`` and captures
its terminal to ``<name>.out``; today's SAGA (v4, since 2026-02) names it
``saga-story-<storyId>-<digits>`` and the worker writes JSON messages to ``<name>.jsonl``.
A name that matches neither is never used to build a path, a tmux target or a command, so every
other module goes through :func:`parse_name` or :func:`output_path` first.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, NamedTuple

from ..errors import InvalidSessionName

MAX_NAME_LENGTH = 200
SLUG = r"[a-z0-9]+(?:[-_][a-z0-9]+)*"
SLUG_PATTERN = re.compile(rf"\A{SLUG}\Z")
# fullmatch + \A..\Z: "$" would accept a trailing newline.
NAME_PATTERN = re.compile(rf"\Asaga__(?P<epic>{SLUG})__(?P<story>{SLUG})__(?P<suffix>[0-9]+)\Z")
# The storyId is everything between the prefix and the last all-digit segment (seconds from
# SAGA's skill, milliseconds from its older code): the backtracking gives exactly that split.
STORY_NAME_PATTERN = re.compile(
    r"\Asaga-story-(?P<story>[a-z0-9]+(?:-[a-z0-9]+)*)-(?P<suffix>[0-9]{1,20})\Z"
)
V3_PREFIX, V4_PREFIX = "saga__", "saga-story-"

OutputFormat = Literal["terminal", "messages"]
#: The output file's suffix of each generation: terminal bytes (v3), JSON messages (v4).
OUTPUT_SUFFIXES: dict[OutputFormat, str] = {"terminal": ".out", "messages": ".jsonl"}
OUTPUT_SUFFIX = OUTPUT_SUFFIXES["terminal"]
PANE_SUFFIX = ".pane"  # what a v4 worker's tmux pane showed, kept beside its messages


class SessionName(NamedTuple):
    """The parts of a valid SAGA session name; ``epic`` is ``None`` for today's workers.

    >>> parse_name("saga__auth__login-form__4242")
    SessionName(name='saga__auth__login-form__4242', epic='auth', story='login-form', \
suffix='4242', output_format='terminal')
    >>> parse_name("saga-story-auth-login-1741165923")[1:]
    (None, 'auth-login', '1741165923', 'messages')
    """

    name: str
    epic: str | None
    story: str
    suffix: str
    output_format: OutputFormat

    @property
    def output_suffix(self) -> str:
        """``.out`` or ``.jsonl``: the output file's suffix."""
        return OUTPUT_SUFFIXES[self.output_format]


def parse_name(name: object) -> SessionName:
    """Split a SAGA session name into its parts, or raise :class:`InvalidSessionName`."""
    if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH:
        match = NAME_PATTERN.fullmatch(name)
        if match is not None:
            return SessionName(name, match["epic"], match["story"], match["suffix"], "terminal")
        match = STORY_NAME_PATTERN.fullmatch(name)
        if match is not None:
            return SessionName(name, None, match["story"], match["suffix"], "messages")
    raise InvalidSessionName(f"not a SAGA session name: {_shorten(name)}")


def is_saga_name(name: object) -> bool:
    """Whether ``name`` is a valid SAGA session name, of either generation.

    >>> is_saga_name("saga__a__b__1"), is_saga_name("saga-story-b-1"), is_saga_name("saga__a__b")
    (True, True, False)
    """
    # Called for every tmux session and file on every scan: no exception machinery here.
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
        return False
    pattern = STORY_NAME_PATTERN if name.startswith(V4_PREFIX) else NAME_PATTERN
    return bool(pattern.fullmatch(name))


def is_slug(value: object) -> bool:
    """Whether ``value`` is a valid epic or story slug."""
    return (
        isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and bool(SLUG_PATTERN.match(value))
    )


def output_path(output_dir: str | Path, name: str) -> Path:
    """The output file of a session; the name is validated, so the path never leaves the dir."""
    parts = parse_name(name)
    return Path(output_dir) / (parts.name + parts.output_suffix)


def pane_path(output_dir: str | Path, name: str) -> Path:
    """Where what a v4 worker's tmux pane showed is kept (``<name>.pane``)."""
    return Path(output_dir) / (parse_name(name).name + PANE_SUFFIX)


def name_from_output_file(filename: str) -> str | None:
    """The session name an output file belongs to, or ``None`` for any other file.

    >>> name_from_output_file("saga-story-x-1.jsonl"), name_from_output_file("saga-story-x-1.out")
    ('saga-story-x-1', None)
    """
    if filename.endswith(".out"):
        name, prefix = filename[:-4], V3_PREFIX
    elif filename.endswith(".jsonl"):
        name, prefix = filename[:-6], V4_PREFIX
    else:
        return None
    return name if name.startswith(prefix) and is_saga_name(name) else None


def output_format(name: str) -> OutputFormat:
    """``"messages"`` for a today's worker's name, else ``"terminal"`` (no validation)."""
    return "messages" if name.startswith(V4_PREFIX) else "terminal"


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
