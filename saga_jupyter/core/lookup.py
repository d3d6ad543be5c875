"""Which session a person means: its name, the start of one, or its story (as kubectl finds).

``saga-jupyter tail ranking`` means ``saga__search__ranking__1796627675`` when that is the only
session of story ``ranking``. The rules, in order, the first that fits anything deciding:

1. a whole SAGA session name is that session and no other (``…__12`` never means ``…__123``);
2. the sessions whose name starts with what was typed;
3. the sessions of that story (``ranking``, ``auth-login-flow``).

One session: that one. Several: :class:`~.errors.AmbiguousSessionName`, naming them (no guess,
not even the running one). None: :class:`~.errors.SessionNotFound`. What was typed is only ever
compared with the names listed, never used as a path or a tmux target.

>>> from saga_jupyter.core.info import SessionInfo
>>> def session(name, story):
...     return SessionInfo(name, None, story, "completed", "", False, None, None, None, None)
>>> listed = [session("saga__search__ranking__17", "ranking"),
...           session("saga-story-auth-login-flow-1796", "auth-login-flow")]
>>> choose("ranking", listed), choose("saga-story-auth", listed)
('saga__search__ranking__17', 'saga-story-auth-login-flow-1796')
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import AmbiguousSessionName, SessionNotFound
from .info import SessionInfo
from .saga.names import is_saga_name

MAX_LISTED = 20  # candidates named in an error; the rest are counted


def choose(typed: str, sessions: Sequence[SessionInfo]) -> str:
    """The name of the one session ``typed`` means among ``sessions`` (newest first)."""
    if is_saga_name(typed):
        if any(info.name == typed for info in sessions):
            return typed
        raise SessionNotFound(f"no SAGA session named {typed}")
    if typed:
        for fits in (
            [info for info in sessions if info.name.startswith(typed)],
            [info for info in sessions if info.story_slug == typed],
        ):
            if len(fits) == 1:
                return fits[0].name
            if fits:
                raise AmbiguousSessionName(_several(typed, fits), [info.name for info in fits])
    raise SessionNotFound(
        f"no SAGA session matches {_quoted(typed)}: give a session's name, the start of one, "
        "or its story"
    )


def _several(typed: str, fits: Sequence[SessionInfo]) -> str:
    lines = [f"{_quoted(typed)} matches {len(fits)} SAGA sessions; give one's name:"]
    lines += [f"  {info.name}  ({info.status})" for info in fits[:MAX_LISTED]]
    if len(fits) > MAX_LISTED:
        lines.append(f"  … and {len(fits) - MAX_LISTED} more")
    return "\n".join(lines)


def _quoted(typed: str) -> str:
    text = repr(typed)
    return text if len(text) <= 80 else text[:77] + "..."
