"""How long a session ran, as every view shows it: one rounding rule and one short form.

The rule is the JupyterLab panel's (``formatDuration`` and ``sessionDuration`` in
``src/format.ts``): each end is first cut to its whole second, as the JSON carries it
(``2026-11-22T10:30:00Z``), the difference is never negative, and it reads ``45s``, ``3m 12s``,
``2h 05m`` or ``3d 4h``. The command line, the notebook's tables and the dashboard use these
functions, so that one worker shows the same duration in every view, at the same moment.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def elapsed(start: float | datetime, end: float | datetime) -> int:
    """Whole seconds from ``start`` to ``end`` (Unix timestamps or aware datetimes).

    Each is cut to its whole second first, as the JSON and the panel see them: 10.7 to 12.2 is
    2 seconds, as 10 to 12 is; never negative.

    >>> elapsed(10.7, 12.2), elapsed(10.2, 12.7), elapsed(12, 10)
    (2, 2, 0)
    """
    if isinstance(start, datetime):
        start = start.timestamp()
    if isinstance(end, datetime):
        end = end.timestamp()
    return max(0, math.floor(end) - math.floor(start))


def format_duration(seconds: float | None) -> str:
    """``45s``, ``3m 12s``, ``2h 05m`` or ``3d 4h`` (whole units, cut down); ``""`` for ``None``.

    >>> [format_duration(s) for s in (59.9, 192, 7500, 273600, -3)]
    ['59s', '3m 12s', '2h 05m', '3d 4h', '0s']
    """
    if seconds is None:
        return ""
    whole = max(0, math.floor(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes}m {whole % 60}s"
    hours = minutes // 60
    if hours < 24:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def parse_iso(value: Any) -> float | None:
    """The Unix time of an ISO 8601 string (a ``Z`` one too); ``None`` for anything else.

    >>> parse_iso("1970-01-01T00:01:00Z"), parse_iso("yesterday"), parse_iso(None)
    (60.0, None, None)
    """
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
