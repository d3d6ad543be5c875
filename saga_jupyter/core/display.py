"""How things show in a notebook and every view: times, durations, outcomes, tables, DataFrames.

Generic: sessions (:mod:`.info`) and stories (:mod:`.saga.stories`) say what they show and render
it through these functions; nothing here knows them. Times are shown in the kernel's local time
zone; the objects keep them in UTC.

>>> html_table(["a"], [], "Nothing.")
'<p><em>Nothing.</em></p>'
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .durations import format_duration

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


def html_table(
    columns: Sequence[str], rows: Iterable[Sequence[str]], empty: str, css_class: str = ""
) -> str:
    """Rows of text as one HTML table under ``columns``, all escaped; ``empty`` when no row."""
    esc = html.escape
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    if not body:
        return f"<p><em>{esc(empty)}</em></p>"
    head = "".join(f"<th>{esc(column)}</th>" for column in columns)
    return (
        f'<table class="{esc(css_class)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def fields_html(pairs: Iterable[tuple[str, str]], preview: str | None, css_class: str) -> str:
    """One thing as a two-column HTML table (fields with a value), then its output, escaped."""
    esc = html.escape
    rows = "".join(
        f'<tr><th style="text-align:left">{esc(key)}</th><td style="text-align:left">'
        f"{esc(value)}</td></tr>"
        for key, value in pairs
        if value
    )
    if preview:
        rows += (
            '<tr><th style="text-align:left">output</th><td style="text-align:left">'
            f'<pre style="margin:0">{esc(preview)}</pre></td></tr>'
        )
    return f'<table class="{esc(css_class)}">{rows}</table>'


def dataframe(
    records: Iterable[dict[str, Any]], columns: Sequence[str], times: Iterable[str] = ()
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
