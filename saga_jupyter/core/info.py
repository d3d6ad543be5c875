"""``SessionInfo``: what is known about one SAGA session, and its JSON form (camelCase)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from .worker import WorkerReading

Status = Literal["running", "completed"]
STATUSES: tuple[Status, ...] = ("running", "completed")


def iso(timestamp: float | None) -> str | None:
    """Format a Unix timestamp as ISO 8601 UTC with a ``Z``, or pass ``None`` through.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@dataclass(frozen=True)
class SessionInfo:
    """One SAGA session as the contract describes it; times are Unix timestamps."""

    name: str
    epic_slug: str
    story_slug: str
    status: Status
    output_file: str
    output_available: bool
    start_time: float | None
    end_time: float | None
    last_activity: float | None
    output_preview: str | None
    #: What the output says of a SAGA worker (see :mod:`.worker`), or ``None`` for other output.
    worker: WorkerReading | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's JSON object for this session."""
        return {
            "name": self.name,
            "epicSlug": self.epic_slug,
            "storySlug": self.story_slug,
            "status": self.status,
            "outputFile": self.output_file,
            "outputAvailable": self.output_available,
            "startTime": iso(self.start_time),
            "endTime": iso(self.end_time),
            "lastActivity": iso(self.last_activity),
            "outputPreview": self.output_preview,
            "worker": None if self.worker is None else self.worker.to_json(),
        }

    def sort_key(self) -> tuple[float, str]:
        """Newest start first, ties by name; sessions without a start time last."""
        start = self.start_time if self.start_time is not None else float("-inf")
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
