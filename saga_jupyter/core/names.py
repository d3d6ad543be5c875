"""SAGA session names: ``saga__<epic-slug>__<story-slug>__<suffix>``.

A name that does not match is never used to build a path, a tmux target or a command, so every
other module goes through :func:`parse_name` or :func:`output_path` first.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from .errors import InvalidSessionName

MAX_NAME_LENGTH = 200
SLUG = r"[a-z0-9]+(?:[-_][a-z0-9]+)*"
SLUG_PATTERN = re.compile(rf"\A{SLUG}\Z")
# fullmatch + \A..\Z: "$" would accept a trailing newline.
NAME_PATTERN = re.compile(rf"\Asaga__(?P<epic>{SLUG})__(?P<story>{SLUG})__(?P<suffix>[0-9]+)\Z")
OUTPUT_SUFFIX = ".out"


class SessionName(NamedTuple):
    """The parts of a valid SAGA session name.

    >>> parse_name("saga__auth__login-form__4242")
    SessionName(name='saga__auth__login-form__4242', epic='auth', story='login-form', suffix='4242')
    """

    name: str
    epic: str
    story: str
    suffix: str


def parse_name(name: object) -> SessionName:
    """Split a SAGA session name into its parts, or raise :class:`InvalidSessionName`."""
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
        raise InvalidSessionName(f"not a SAGA session name: {_shorten(name)}")
    match = NAME_PATTERN.fullmatch(name)
    if match is None:
        raise InvalidSessionName(f"not a SAGA session name: {_shorten(name)}")
    return SessionName(name, match["epic"], match["story"], match["suffix"])


def is_saga_name(name: object) -> bool:
    """Whether ``name`` is a valid SAGA session name.

    >>> is_saga_name("saga__a__b__1"), is_saga_name("saga__a__b")
    (True, False)
    """
    # Called for every tmux session and file on every scan: no exception machinery here.
    return (
        isinstance(name, str)
        and len(name) <= MAX_NAME_LENGTH
        and bool(NAME_PATTERN.fullmatch(name))
    )


def is_slug(value: object) -> bool:
    """Whether ``value`` is a valid epic or story slug."""
    return (
        isinstance(value, str) and len(value) <= MAX_NAME_LENGTH and bool(SLUG_PATTERN.match(value))
    )


def output_path(output_dir: str | Path, name: str) -> Path:
    """The output file of a session; the name is validated, so the path never leaves the dir."""
    return Path(output_dir) / (parse_name(name).name + OUTPUT_SUFFIX)


def name_from_output_file(filename: str) -> str | None:
    """The session name an output file belongs to, or ``None`` for any other file."""
    if not filename.endswith(OUTPUT_SUFFIX):
        return None
    name = filename[: -len(OUTPUT_SUFFIX)]
    return name if is_saga_name(name) else None


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
