"""How sessions show in a notebook: HTML tables, a short form, pandas DataFrames.

:class:`SessionList` is what :func:`~saga_jupyter.core.api.list_sessions` returns: a plain
``list`` of :class:`~.info.SessionInfo` that a notebook renders as a table. Times are shown in
the kernel's local time zone; the objects keep them in UTC.

>>> SessionList([])._repr_html_()
'<p><em>No SAGA sessions.</em></p>'
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from typing import Any

from .info import TIMES, SessionInfo
from .worker import WorkerReading

COLUMNS = ("name", "status", "outcome", "started", "duration", "last activity", "last line")
#: The DataFrame's columns: SessionInfo's fields, the worker reading's in place of ``worker``.
RECORD_COLUMNS = [
    *(field.name for field in fields(SessionInfo) if field.name != "worker"),
    *(field.name for field in fields(WorkerReading)),
]
PANDAS_MISSING = (
    "to_dataframe() needs pandas, which saga-jupyter does not install: "
    "`pip install pandas` (or `%pip install pandas` in a notebook), then call it again."
)


class SessionList(list[SessionInfo]):
    """A list of sessions that a notebook shows as a table; :meth:`to_dataframe` for pandas."""

    def _repr_html_(self) -> str:
        return list_html(self)

    def to_dataframe(self) -> Any:
        """The sessions as a pandas DataFrame, one row each (pandas is not a dependency)."""
        return dataframe(self)


def local_time(value: datetime | None) -> str:
    """A time in the local time zone as ``YYYY-MM-DD HH:MM:SS``, or ``""``."""
    return "" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short_duration(seconds: float | None) -> str:
    """``1h02m03s``, ``2m03s`` or ``3s``; ``""`` for ``None``.

    >>> short_duration(3723), short_duration(123), short_duration(3)
    ('1h02m03s', '2m03s', '3s')
    """
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def last_line(info: SessionInfo) -> str:
    """The last line of the session's output preview, or ``""``."""
    return (info.output_preview or "").rsplit("\n", 1)[-1]


def _cells(info: SessionInfo) -> list[str]:
    return [
        info.name,
        info.status,
        info.progress,
        local_time(info.start_time),
        short_duration(info.duration),
        local_time(info.last_activity),
        last_line(info),
    ]


def list_html(sessions: Iterable[SessionInfo]) -> str:
    """Sessions as one HTML table, everything taken from them escaped."""
    esc = html.escape
    rows = [
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in _cells(info)) + "</tr>"
        for info in sessions
    ]
    if not rows:
        return "<p><em>No SAGA sessions.</em></p>"
    head = "".join(f"<th>{esc(column)}</th>" for column in COLUMNS)
    return (
        f'<table class="saga-sessions"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def info_html(info: SessionInfo) -> str:
    """One session as a two-column HTML table: each field and its value, escaped."""
    esc = html.escape
    pairs = [
        ("name", info.name),
        ("epic", info.epic_slug),
        ("story", info.story_slug),
        ("status", info.status),
        ("outcome", info.progress),
        ("started", local_time(info.start_time)),
        ("ended", local_time(info.end_time)),
        ("duration", short_duration(info.duration)),
        ("last activity", local_time(info.last_activity)),
        ("output file", info.output_file + ("" if info.output_available else " (missing)")),
    ]
    worker = info.worker
    if worker is not None:
        pairs += [("last tool", worker.last_tool or ""), ("summary", worker.summary or "")]
        pairs += [("blocker", worker.blocker or "")]
    rows = "".join(
        f'<tr><th style="text-align:left">{esc(key)}</th><td style="text-align:left">'
        f"{esc(value)}</td></tr>"
        for key, value in pairs
        if value
    )
    preview = info.output_preview
    if preview:
        rows += (
            '<tr><th style="text-align:left">output</th><td style="text-align:left">'
            f'<pre style="margin:0">{esc(preview)}</pre></td></tr>'
        )
    return f'<table class="saga-session">{rows}</table>'


def dataframe(sessions: Iterable[SessionInfo]) -> Any:
    """Sessions as a pandas DataFrame: one row each, times as UTC ``datetime64`` columns."""
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError(PANDAS_MISSING) from error
    frame = pd.DataFrame.from_records(
        [info.to_record() for info in sessions], columns=RECORD_COLUMNS
    )
    for name in TIMES:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame
