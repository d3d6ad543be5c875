"""``SessionInfo``: what is known about one SAGA session, and its JSON form (camelCase).

Its times are timezone-aware ``datetime`` objects in UTC, in whole seconds; the JSON form has
them as ISO 8601 strings ending in ``Z``. Discovery and the store count in Unix timestamps and
hand them over here, where they become datetimes (:func:`utc`).

>>> info = SessionInfo("saga__auth__login__1", "auth", "login", "completed", "/o/x.out", False,
...                    start_time=1795343400.0, end_time=None, last_activity=None,
...                    output_preview=None)
>>> info
<SessionInfo saga__auth__login__1 completed>
>>> info.start_time
datetime.datetime(2026, 11, 22, 10, 30, tzinfo=datetime.timezone.utc)
>>> info.to_json()["startTime"]
'2026-11-22T10:30:00Z'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Literal

from .display import dataframe, fields_html, html_table, local_time, short_duration
from .durations import elapsed
from .saga.names import OutputFormat, output_format
from .saga.worker import WorkerReading

Status = Literal["running", "completed"]
STATUSES: tuple[Status, ...] = ("running", "completed")
TIMES = ("start_time", "end_time", "last_activity")
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # UTC, to the second


def utc(value: float | datetime | None) -> datetime | None:
    """A Unix timestamp (or an aware datetime) as an aware datetime in UTC; ``None`` passes.

    >>> utc(0)
    datetime.datetime(1970, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime has no time zone to convert from: {value}")
        return value.astimezone(timezone.utc)
    return datetime.fromtimestamp(value, timezone.utc)


def seconds(value: datetime | None) -> float | None:
    """A datetime as a Unix timestamp; ``None`` passes."""
    return None if value is None else value.timestamp()


def iso(value: float | datetime | None) -> str | None:
    """Format a Unix timestamp or a datetime as ISO 8601 UTC with a ``Z``; ``None`` passes.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.timestamp()
    return time.strftime(ISO_FORMAT, time.gmtime(value))


@dataclass(frozen=True, repr=False)
class SessionInfo:
    """One SAGA session as the contract describes it; times are aware datetimes in UTC.

    Unix timestamps given for the times are converted. In a notebook it shows as a table
    (``_repr_html_``); :meth:`to_dataframe` makes a pandas DataFrame of it.
    """

    name: str
    epic_slug: str | None  # today's workers: their story's epic, once its project is known
    story_slug: str
    status: Status
    output_file: str
    output_available: bool
    start_time: datetime | None
    end_time: datetime | None
    last_activity: datetime | None
    output_preview: str | None
    #: What the output says of a SAGA worker (see :mod:`.worker`), or ``None`` for other output.
    worker: WorkerReading | None = None
    #: The remote it runs on, as a server merging its remotes lists it; ``None``: that server's.
    host: str | None = None
    #: Whether its host did not answer at the last look: the session is as last seen.
    stale: bool = False

    def __post_init__(self) -> None:
        for name in TIMES:
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, datetime) and value.tzinfo is timezone.utc
            ):
                object.__setattr__(self, name, utc(value))

    def __repr__(self) -> str:
        state = f" {self.progress}" if self.progress else ""
        return f"<SessionInfo {self.name} {self.status}{state}>"

    @property
    def output_format(self) -> OutputFormat:
        """``"terminal"`` (the seeds' ``.out``) or ``"messages"`` (today's ``.jsonl``)."""
        return output_format(self.name)

    @property
    def last_line(self) -> str:
        """The line that tells most about it: once ended, its blocker or its summary's line.

        Of the summary, a failure's last line (the error its pane showed), else the first;
        without either, its output's last line. A seeds' worker's output ends with its result
        JSON (``}``), a failed today's worker's with nothing at all: its summary says more.
        """
        worker = self.worker
        if self.status == "completed" and worker is not None:
            if worker.blocker:
                return worker.blocker.strip().split("\n", 1)[0]
            lines = [line.strip() for line in (worker.summary or "").splitlines() if line.strip()]
            if lines:
                return lines[-1] if worker.outcome == "ERROR" else lines[0]
        return (self.output_preview or "").rsplit("\n", 1)[-1]

    @property
    def outcome(self) -> str | None:
        """How the worker ended (``FINISH``, ``BLOCKED``, ``ERROR`` ...), once it said so."""
        return None if self.worker is None else self.worker.outcome

    @property
    def progress(self) -> str:
        """The outcome once known, else ``cycle <n>`` or ``cycle <n>/<max>`` while running."""
        if self.outcome is not None:
            return self.outcome
        worker = self.worker
        if self.status == "running" and worker is not None and worker.cycle:
            limit = f"/{worker.max_cycles}" if worker.max_cycles else ""
            return f"cycle {worker.cycle}{limit}"
        return ""

    @property
    def duration(self) -> int | None:
        """Whole seconds from start to end (to now while running), or ``None`` without a start.

        Counted as every view counts them (:func:`~.durations.elapsed`).
        """
        if self.start_time is None:
            return None
        end = self.end_time if self.status == "completed" and self.end_time else None
        return elapsed(self.start_time, end if end is not None else time.time())

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON object for this session."""
        return {
            "name": self.name,
            "epicSlug": self.epic_slug,
            "storySlug": self.story_slug,
            "status": self.status,
            "outputFormat": self.output_format,
            "outputFile": self.output_file,
            "outputAvailable": self.output_available,
            "startTime": iso(self.start_time),
            "endTime": iso(self.end_time),
            "lastActivity": iso(self.last_activity),
            "outputPreview": self.output_preview,
            "worker": None if self.worker is None else self.worker.to_json(),
            "host": self.host,
            "stale": self.stale,
        }

    def to_record(self) -> dict[str, Any]:
        """The fields as a flat dict (the worker's reading as its own keys), for tables."""
        record = {field.name: getattr(self, field.name) for field in fields(self)}
        worker = record.pop("worker") or WorkerReading()
        record.update({field.name: getattr(worker, field.name) for field in fields(worker)})
        return record

    def to_dataframe(self) -> Any:
        """A one-row pandas DataFrame of this session (pandas is not a dependency)."""
        return dataframe([self.to_record()], RECORD_COLUMNS, TIMES)

    def _repr_html_(self) -> str:
        pairs = [
            ("name", self.name),
            ("epic", self.epic_slug or ""),
            ("story", self.story_slug),
            ("status", self.status),
            ("outcome", self.progress),
            ("started", local_time(self.start_time)),
            ("ended", local_time(self.end_time)),
            ("duration", short_duration(self.duration)),
            ("last activity", local_time(self.last_activity)),
            ("output file", self.output_file + ("" if self.output_available else " (missing)")),
        ]
        worker = self.worker
        if worker is not None:
            pairs += [("last tool", worker.last_tool or ""), ("summary", worker.summary or "")]
            pairs += [("blocker", worker.blocker or "")]
        return fields_html(pairs, self.output_preview, "saga-session")

    def cells(self) -> list[str]:
        """Its row in a notebook's table of sessions (:data:`COLUMNS`)."""
        return [
            self.name,
            self.status,
            self.progress,
            local_time(self.start_time),
            short_duration(self.duration),
            local_time(self.last_activity),
            self.last_line,
        ]

    def sort_key(self) -> tuple[float, str]:
        """Newest start first, ties by name; sessions without a start time last."""
        start = self.start_time.timestamp() if self.start_time is not None else float("-inf")
        return (-start, self.name)

    def matches(
        self, status: str | None = None, epic: str | None = None, story: str | None = None
    ) -> bool:
        """Whether every given filter matches (an omitted filter matches anything)."""
        return (
            (status is None or self.status == status)
            and (epic is None or self.epic_slug == epic)
            and (story is None or self.story_slug == story)
        )


#: A notebook's table of sessions.
COLUMNS = ("name", "status", "outcome", "started", "duration", "last activity", "last line")
#: The DataFrame's columns: SessionInfo's fields, the worker reading's in place of ``worker``.
RECORD_COLUMNS = [
    *(field.name for field in fields(SessionInfo) if field.name != "worker"),
    *(field.name for field in fields(WorkerReading)),
]


class SessionList(list[SessionInfo]):
    """A list of sessions that a notebook shows as a table; :meth:`to_dataframe` for pandas.

    What :func:`~saga_jupyter.core.api.list_sessions` returns.

    >>> SessionList([])._repr_html_()
    '<p><em>No SAGA sessions.</em></p>'
    """

    def _repr_html_(self) -> str:
        rows = (info.cells() for info in self)
        return html_table(COLUMNS, rows, "No SAGA sessions.", "saga-sessions")

    def to_dataframe(self) -> Any:
        """The sessions as a pandas DataFrame, one row each (pandas is not a dependency)."""
        return dataframe((info.to_record() for info in self), RECORD_COLUMNS, TIMES)
