"""The session table's rows as HTML, rendered in the kernel: everything from a session escaped.

One string for the whole table (one message per change whatever the number of rows), each row
cached while its session is unchanged; a running session's duration is left for the front end
to tick (:mod:`.table`).
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from datetime import datetime

from ..core.display import OUTCOME_LABELS
from ..core.durations import elapsed, format_duration
from ..core.info import SessionInfo, seconds

COLUMNS = ("name", "epic", "story", "status", "started", "duration", "last activity", "preview")


def format_time(timestamp: float | datetime | None) -> str:
    """A Unix timestamp or a datetime as local ``YYYY-MM-DD HH:MM:SS``, or an empty string."""
    if isinstance(timestamp, datetime):
        timestamp = timestamp.timestamp()
    if timestamp is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


RowParts = tuple[str, str, float | None]  # before the duration, after it, start if it ticks
# By id(): Discovery hands over the very same SessionInfo while a session is unchanged, and
# hashing a dataclass per row costs more than rendering a changed one. The entry holds the
# object, so its id cannot be reused while cached.
RowCache = dict[int, tuple[SessionInfo, RowParts]]


def render_rows(
    sessions: Sequence[SessionInfo],
    now: float,
    empty: str,
    cache: RowCache | None = None,
    reasons: dict[str, str] | None = None,
) -> str:
    """The table as HTML; everything taken from a session is escaped.

    ``cache`` holds rendered rows: pass the dict the last call filled, and only sessions not
    seen then are rendered again (it keeps only the sessions of this call). ``reasons``: with
    it, a host column, and each stale host's reason on its greyed rows (cache per value).
    """
    esc = html.escape
    columns = COLUMNS if reasons is None else (COLUMNS[0], "host", *COLUMNS[1:])
    head = "".join(f"<th>{esc(column)}</th>" for column in columns)
    rows = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    if not sessions:
        rows.append(f'<tr><td colspan="{len(columns)}"><em>{esc(empty)}</em></td></tr>')
    previous = cache.copy() if cache is not None else {}
    if cache is not None:
        cache.clear()
    for info in sessions:
        entry = previous.get(id(info)) or (info, _row_parts(info, reasons))
        if cache is not None:
            cache[id(info)] = entry
        before, after, ticking_from = entry[1]
        if ticking_from is not None:
            rows.append(f"{before}{format_duration(elapsed(ticking_from, now))}{after}")
        else:
            rows.append(before + after)
    rows.append("</tbody></table>")
    return "".join(rows)


def _row_parts(info: SessionInfo, reasons: dict[str, str] | None = None) -> RowParts:
    """One row of the table, split where a running session's duration goes."""
    esc = html.escape
    key = esc(row_key(info.name, info.host))
    attrs = f'data-name="{esc(info.name)}" data-key="{key}" tabindex="0"'
    row = f"<tr {attrs}><td>{esc(info.name)}</td>"
    if reasons is not None:
        host = info.host or "this server"
        if info.stale:
            why = reasons.get(host, "it does not answer")
            title = esc(f"as last seen: {host} is stale ({why})")
            row = f'<tr {attrs} class="saga-stale" title="{title}"><td>{esc(info.name)}</td>'
        row += f"<td>{esc(host)}{' (stale)' if info.stale else ''}</td>"
    start, end = seconds(info.start_time), seconds(info.end_time)
    ticking = info.status == "running" and start is not None
    if ticking and start is not None:
        # The front end ticks these cells from the start's whole second, as elapsed() counts.
        duration_cell = f'<td data-start="{math.floor(start)}">'
    elif start is not None and end is not None:
        duration_cell = f"<td>{format_duration(elapsed(start, end))}"
    else:
        duration_cell = "<td>"
    preview = info.output_preview or ""
    last_line = info.last_line
    before = (
        f"{row}<td>{esc(info.epic_slug or '')}</td>"
        f"<td>{esc(info.story_slug)}</td>"
        f'<td><span class="saga-badge saga-{esc(info.status)}">{esc(info.status)}</span>'
        f"{worker_badge(info)}</td>"
        f"<td>{format_time(start)}</td>{duration_cell}"
    )
    after = (
        f"</td><td>{format_time(info.last_activity)}</td>"
        f'<td class="saga-preview" title="{esc(preview)}">{esc(last_line)}</td></tr>'
    )
    return before, after, start if ticking else None


def row_key(name: str, host: str | None = None) -> str:
    """What selects a row: its session's name, ``name@host`` for a remote host's session.

    Two hosts may each run a session of one name; ``@`` is in no session's name.
    """
    return name if host is None else f"{name}@{host}"


def split_key(key: str) -> tuple[str, str | None]:
    """A row key's session name and host (``None``: this server's), as :func:`row_key` joined."""
    name, _, host = key.partition("@")
    return name, host or None


def worker_badge(info: SessionInfo) -> str:
    """How a SAGA worker ended (a blocked one's blocker on hover), or its cycle while it runs."""
    worker = info.worker
    if worker is None:
        return ""
    cost = f" ${worker.cost_usd:.2f}" if worker.cost_usd is not None else ""
    if worker.outcome in OUTCOME_LABELS:
        hover = worker.blocker or worker.summary or ""
        kind = worker.outcome.lower().replace("_", "-")
        return (
            f' <span class="saga-badge saga-outcome saga-outcome-{kind}" '
            f'title="{html.escape(hover)}">{OUTCOME_LABELS[worker.outcome]}</span>'
            + (f'<span class="saga-cycle">{cost}</span>' if cost else "")
        )
    if worker.cycle is not None and info.status == "running":
        return f' <span class="saga-cycle">{html.escape(info.progress)}{cost}</span>'
    return ""
