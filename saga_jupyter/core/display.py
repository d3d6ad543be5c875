"""How sessions show in a notebook: HTML tables, a short form, pandas DataFrames.

:class:`~.info.SessionInfo` and :class:`~.info.SessionList` render themselves through these
functions; this module knows their attributes, never imports them (one direction: info uses
display). Times are shown in the kernel's local time zone; the objects keep them in UTC.

>>> list_html([])
'<p><em>No SAGA sessions.</em></p>'
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .durations import format_duration

if TYPE_CHECKING:
    from .info import SessionInfo

COLUMNS = ("name", "status", "outcome", "started", "duration", "last activity", "last line")
#: One word per outcome, of both generations, in every view (as the JupyterLab panel says it).
OUTCOME_LABELS = {
    "FINISH": "finished",
    "INCOMPLETE": "incomplete",
    "ERROR": "failed",
    "STOPPED": "stopped",
    "BLOCKED": "blocked",
    "TIMEOUT": "timed out",
    "MAX_CYCLES": "out of cycles",
}
#: One colour per outcome (background, text), the panel's (Material colours, both themes).
OUTCOME_COLOURS = {
    "FINISH": ("#2e7d32", "#fff"),
    "INCOMPLETE": ("#1976d2", "#fff"),
    "ERROR": ("#d32f2f", "#fff"),
    "STOPPED": ("#546e7a", "#fff"),
    "BLOCKED": ("#ffb300", "rgba(0, 0, 0, 0.87)"),
    "TIMEOUT": ("#00796b", "#fff"),
    "MAX_CYCLES": ("#7b1fa2", "#fff"),
}
PANDAS_MISSING = (
    "to_dataframe() needs pandas, which saga-jupyter does not install: "
    "`pip install pandas` (or `%pip install pandas` in a notebook), then call it again."
)


def local_time(value: datetime | None) -> str:
    """A time in the local time zone as ``YYYY-MM-DD HH:MM:SS``, or ``""``."""
    return "" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def short_duration(seconds: float | None) -> str:
    """A duration as every view shows it (:func:`~.durations.format_duration`); ``""`` for ``None``.

    >>> short_duration(3723), short_duration(123), short_duration(3)
    ('1h 02m', '2m 3s', '3s')
    """
    return format_duration(seconds)


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


def dataframe(
    records: Iterable[dict[str, Any]], columns: Sequence[str], times: Iterable[str]
) -> Any:
    """Records as a pandas DataFrame: one row each, the ``times`` as UTC ``datetime64``."""
    try:
        import pandas as pd
    except ImportError as error:
        raise ImportError(PANDAS_MISSING) from error
    frame = pd.DataFrame.from_records(list(records), columns=list(columns))
    for name in times:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame
