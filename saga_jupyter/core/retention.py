"""Which session records the store keeps: at most :data:`MAX_RECORDS`, running ones first.

Then the newest, by end (else start) time: the oldest completed sessions are forgotten first.
Applied when the store is read and when it is written; a list of a million records took a
minute to load, gigabytes of memory, and a frame of hundreds of MiB per client.
"""

from __future__ import annotations

from collections.abc import Mapping

from .records import SessionRecord

MAX_RECORDS = 10_000  # sessions remembered; a list of more is for no one to read


def kept(records: Mapping[str, SessionRecord]) -> dict[str, SessionRecord]:
    """``records``, or the :data:`MAX_RECORDS` kept of them: running first, then the newest."""
    if len(records) <= MAX_RECORDS:
        return dict(records)
    newest = sorted(records.values(), key=_age)[:MAX_RECORDS]
    return {record.name: record for record in newest}


def _age(record: SessionRecord) -> tuple[bool, float]:
    """Running first, then by end (else start) time, newest first: the order records are kept."""
    when = record.end_time or record.start_time or 0.0
    return record.status != "running", -when


def newest_first(items: list[object]) -> list[object]:
    """Records not read yet, in :func:`_age`'s order told from their raw fields.

    ISO times sort as strings: only the records kept are then read.
    """

    def when(item: object) -> str:
        value = item.get("endTime") or item.get("startTime") if isinstance(item, dict) else None
        return value if isinstance(value, str) else ""

    def completed(item: object) -> bool:
        return not isinstance(item, dict) or item.get("status") != "running"

    ordered = sorted(items, key=when, reverse=True)  # stable: equal times keep the file's order
    return sorted(ordered, key=completed)
