"""``saga-jupyter ls --remote URL`` / ``ls --host H``: another Jupyter server's list, or a remote's.

The server is asked over REST (:mod:`.core.serverclient`): the one at ``--remote`` with
``--token`` or ``$SAGA_REMOTE_TOKEN``; without ``--remote``, this machine's running Jupyter
server with saga_jupyter (found from Jupyter's runtime files, its token from there), whose
``remotes`` the hosts are.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from .core.display import short_duration
from .core.durations import parse_iso
from .core.serverclient import ServerClient, ServerError, running_servers, runtime_dir

TOKEN_ENV = "SAGA_REMOTE_TOKEN"  # noqa: S105 - a variable's name, not a secret
GAP = "   "


def remote_ls(
    url: str | None, token: str | None, filters: dict[str, str | None], *, as_json: bool = False
) -> int:
    """Print the list of the server at ``url`` (else this machine's): a table, or its JSON."""
    if url is None:
        server = local_server(filters.get("host"))
    else:
        server = ServerClient.of(url, token or os.environ.get(TOKEN_ENV) or "", "--remote")
    try:
        sessions = server.get("api/saga/sessions", filters)
    except ServerError as error:
        if error.code in (401, 403) and url is not None:
            raise ServerError(f"{error}: pass --token or set ${TOKEN_ENV}") from None
        raise
    if as_json:
        print(json.dumps(sessions, indent=2, ensure_ascii=False))
    elif not sessions:
        print(f"No SAGA sessions found at {server.url}.", file=sys.stderr)
    else:
        print(table(sessions, time.time()))
    return 0


def local_server(host: str | None) -> ServerClient:
    """The running Jupyter server here with saga_jupyter (and with the remote ``host``).

    ``OSError`` saying why none fits: none runs, none has saga_jupyter, or none has that remote.
    """
    directory = runtime_dir()
    servers = list(running_servers(directory))
    if not servers:
        raise OSError(f"no Jupyter server is running here (none in {directory}): start one")
    names: set[str] = set()
    answered = False
    for server in servers:
        try:
            status = server.get("api/saga/status")
        except ServerError:
            continue  # without saga_jupyter (404), or not answering
        if not isinstance(status, dict) or not isinstance(status.get("remotes", []), list):
            continue
        answered = True
        remotes = {str(r.get("name")) for r in status.get("remotes", []) if isinstance(r, dict)}
        if not host or host in remotes:
            return server
        names |= remotes
    if not answered:
        urls = ", ".join(server.url for server in servers)
        raise OSError(f"no running Jupyter server here has saga_jupyter (asked {urls})")
    raise OSError(
        f"no running Jupyter server here has a remote named {host!r} (its remotes: "
        f"{', '.join(sorted(names)) or 'none'}); --remote URL asks another server"
    )


def table(sessions: Sequence[dict[str, Any]], now: float) -> str:
    """SessionInfo dicts as aligned columns: name, host, status, outcome, age."""
    rows: list[tuple[str, ...]] = [("NAME", "HOST", "STATUS", "OUTCOME", "AGE")]
    for session in sessions:
        worker = session.get("worker") or {}
        host = session.get("host") or "-"
        if session.get("stale"):
            host += " (stale)"
        start = parse_iso(session.get("startTime"))
        age = short_duration(now - start) if start is not None else ""
        cells = (host, str(session.get("status")), str(worker.get("outcome") or ""), age)
        rows.append((str(session.get("name")), *(cell or "-" for cell in cells)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
