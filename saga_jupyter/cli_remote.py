"""``saga-jupyter ls --remote URL``: a one-off look at another Jupyter server's session list.

Plain ``urllib`` over the server's REST route, so a local command never imports an HTTP stack:
the token comes from ``--token`` or ``$SAGA_REMOTE_TOKEN`` and goes in the ``Authorization``
header; the URL follows the ``remotes`` rule (https, or http on loopback only).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from .core.display import short_duration
from .core.hosts import check_url

TOKEN_ENV = "SAGA_REMOTE_TOKEN"  # noqa: S105 - a variable's name, not a secret
TIMEOUT = 30.0
MAX_BODY = 64 << 20
GAP = "   "


def remote_ls(
    url: str, token: str | None, filters: dict[str, str | None], *, as_json: bool = False
) -> int:
    """Print the list of the server at ``url`` (a table, or its JSON as it came)."""
    base = check_url(url, "--remote")
    token = token or os.environ.get(TOKEN_ENV) or ""
    query = urlencode({key: value for key, value in filters.items() if value is not None})
    request = urllib.request.Request(  # noqa: S310 - check_url allows http(s) only
        base + "api/saga/sessions" + ("?" + query if query else ""),
        headers={"Authorization": f"token {token}"} if token else {},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            sessions = json.loads(response.read(MAX_BODY))
    except urllib.error.HTTPError as error:
        raise OSError(f"{base} answered {error.code}: {_message(error)}") from None
    except urllib.error.URLError as error:
        raise OSError(f"cannot reach {base}: {error.reason}") from None
    if as_json:
        print(json.dumps(sessions, indent=2, ensure_ascii=False))
    elif not sessions:
        print(f"No SAGA sessions found at {base}.", file=sys.stderr)
    else:
        print(table(sessions, time.time()))
    return 0


def _message(error: urllib.error.HTTPError) -> str:
    if error.code in (401, 403):
        return f"the token was refused: pass --token or set ${TOKEN_ENV}"
    try:
        return str(json.loads(error.read(65536))["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(error.reason)


def table(sessions: Sequence[dict[str, Any]], now: float) -> str:
    """SessionInfo dicts as aligned columns: name, host, status, outcome, age."""
    rows: list[tuple[str, ...]] = [("NAME", "HOST", "STATUS", "OUTCOME", "AGE")]
    for session in sessions:
        worker = session.get("worker") or {}
        host = session.get("host") or "-"
        if session.get("stale"):
            host += " (stale)"
        start = _time(session.get("startTime"))
        age = short_duration(now - start) if start is not None else ""
        cells = (host, str(session.get("status")), str(worker.get("outcome") or ""), age)
        rows.append((str(session.get("name")), *(cell or "-" for cell in cells)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
