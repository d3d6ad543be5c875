"""One session's record: what the metadata store keeps of it, and its line in the store's file.

Times are Unix timestamps in memory (whole seconds, as in ``SessionInfo``) and ISO 8601 UTC
strings ending in ``Z`` in the file. A record's line is put together from its parts, once.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii
from typing import Any, cast

from .info import ISO_FORMAT, STATUSES, Status, iso
from .saga.names import is_saga_name, parse_name

_TIME = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
QUOTED_ISO = f'"{ISO_FORMAT}"'  # a time as its JSON string, in one strftime


def parse_time(value: object) -> float | None:
    """The Unix timestamp of an :func:`~saga_jupyter.core.info.iso` string (or ``None``).

    >>> parse_time("2026-11-22T10:30:00Z")
    1795343400.0
    """
    if value is None:
        return None
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise ValueError(f"not an ISO 8601 UTC time: {value!r:.60}")
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=timezone.utc).timestamp()


def _new_id() -> str:
    return str(uuid.uuid4())


def _quote(text: str | None) -> str:
    """A JSON string (ASCII, as ``json.dumps`` writes it) or ``null``."""
    return "null" if text is None else encode_basestring_ascii(text)


def _time(timestamp: float | None) -> str:
    """An ISO 8601 time as a JSON string, or ``null``."""
    return "null" if timestamp is None else time.strftime(QUOTED_ISO, time.gmtime(timestamp))


@dataclass(frozen=True)
class SessionRecord:
    """What the store keeps about one session; times are Unix timestamps or ``None``.

    ``id`` is a uuid4 drawn when the record is first made; update a record with
    ``dataclasses.replace`` so that it keeps its id.
    """

    name: str
    status: Status = "running"
    start_time: float | None = None
    end_time: float | None = None
    last_activity: float | None = None
    command: str | None = None
    cwd: str | None = None
    worktree: str | None = None
    #: saga_jupyter was asked to stop it (today's workers end STOPPED, not ERROR, then).
    stopped: bool = False
    id: str = field(default_factory=_new_id)

    @property
    def line(self) -> str:
        """The record as one line of the file, ``json.dumps(self.to_json())``; once per record.

        Put together from its parts (a SAGA name and ISO times need no escaping): ``json.dumps``
        of a dict, behind a ``cached_property`` and its lock, cost three times as much, the
        most of a write of 1,000 new sessions.
        """
        line: str | None = self.__dict__.get("_line")
        if line is None:
            if not is_saga_name(self.name):
                parse_name(self.name)  # raises InvalidSessionName, saying why
            if self.name.startswith("saga__"):
                _, epic, story, _ = self.name.split("__")  # no slug holds "__"
                epic = f'"{epic}"'
            else:  # today's worker: its epic is its story's, not in the name
                epic, story = "null", parse_name(self.name).story
            line = self.__dict__["_line"] = (
                f'{{"name": "{self.name}", "id": {_quote(self.id)}, "epicSlug": {epic}, '
                f'"storySlug": "{story}", "status": {_quote(self.status)}, '
                f'"startTime": {_time(self.start_time)}, "endTime": {_time(self.end_time)}, '
                f'"lastActivity": {_time(self.last_activity)}, "command": {_quote(self.command)}, '
                f'"cwd": {_quote(self.cwd)}, "worktree": {_quote(self.worktree)}, '
                f'"stopped": {"true" if self.stopped else "false"}}}'
            )
        return line

    def to_json(self) -> dict[str, Any]:
        """The record as the file holds it; ``InvalidSessionName`` for a name that is not SAGA."""
        parts = parse_name(self.name)
        return {
            "name": self.name,
            "id": self.id,
            "epicSlug": parts.epic,
            "storySlug": parts.story,
            "status": self.status,
            "startTime": iso(self.start_time),
            "endTime": iso(self.end_time),
            "lastActivity": iso(self.last_activity),
            "command": self.command,
            "cwd": self.cwd,
            "worktree": self.worktree,
            "stopped": self.stopped,
        }

    @classmethod
    def from_json(cls, data: object) -> SessionRecord:
        """A record read from the file; ``ValueError`` saying what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        name = data.get("name")
        if not isinstance(name, str) or not is_saga_name(name):
            raise ValueError(f"not a SAGA session name: {name!r:.80}")
        parts = parse_name(name)
        epic = data.get("epicSlug", parts.epic) if parts.epic is not None else None
        if (epic, data.get("storySlug", parts.story)) != parts[1:3]:
            raise ValueError(f"{name}: epicSlug or storySlug does not match the name")
        record_id, status = data.get("id"), data.get("status")
        if not isinstance(record_id, str) or str(uuid.UUID(record_id)) != record_id:
            raise ValueError(f"{name}: id is not a UUID: {record_id!r:.60}")
        if status not in STATUSES:
            raise ValueError(f"{name}: unknown status {status!r:.40}")
        texts = {key: data.get(key) for key in ("command", "cwd", "worktree")}
        if any(value is not None and not isinstance(value, str) for value in texts.values()):
            raise ValueError(f"{name}: command, cwd or worktree is not a string")
        return cls(
            name=name,
            status=cast(Status, status),
            start_time=parse_time(data.get("startTime")),
            end_time=parse_time(data.get("endTime")),
            last_activity=parse_time(data.get("lastActivity")),
            id=record_id,
            stopped=data.get("stopped") is True,
            **texts,
        )
