"""Many hosts, the pure part: remotes' configuration and one list merged from several hosts.

The server extension (``server/remotes.py``) holds the connections; what they carry is merged
here, with no I/O beyond reading a token file.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import InvalidRequest
from .saga.worker import ATTENTION_RANKS, REST_RANK, RUNNING_RANK
from .watch.files import read_regular

HOST_NAME = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
MAX_HOST_NAME = 64
MAX_TOKEN_BYTES = 4096
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


@dataclass(frozen=True)
class RemoteSpec:
    """One remote of the ``remotes`` trait: a Jupyter server running saga_jupyter."""

    name: str
    url: str  # the server's base URL, ending in "/"
    token_file: str


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` names this machine (plain http is allowed only there)."""
    if hostname.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def parse_remotes(value: Any) -> list[RemoteSpec]:
    """The ``remotes`` trait's value checked: ``InvalidRequest`` saying what is wrong."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise InvalidRequest("remotes must be a list of {name, url, token_file}")
    remotes: list[RemoteSpec] = []
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise InvalidRequest(f"remotes[{index}] must be a dict with name, url, token_file")
        unknown = set(entry) - {"name", "url", "token_file"}
        if unknown:
            raise InvalidRequest(f"remotes[{index}] has unknown keys: {', '.join(sorted(unknown))}")
        name, url, token_file = (entry.get(key) for key in ("name", "url", "token_file"))
        if not isinstance(name, str) or len(name) > MAX_HOST_NAME or not HOST_NAME.fullmatch(name):
            raise InvalidRequest(
                f"remotes[{index}].name must be lower-case letters and digits joined by - or _ "
                f"(at most {MAX_HOST_NAME}), not {str(name)[:40]!r}"
            )
        if any(remote.name == name for remote in remotes):
            raise InvalidRequest(f"remotes: the name {name!r} is used twice")
        if not isinstance(token_file, str) or not token_file:
            raise InvalidRequest(f"remotes[{index}].token_file must be a path")
        remotes.append(RemoteSpec(name, check_url(url, f"remotes[{index}].url"), token_file))
    return remotes


def check_url(url: Any, what: str) -> str:
    """A remote's base URL, ending in ``/``: https, or http on loopback only."""
    if not isinstance(url, str):
        raise InvalidRequest(f"{what} must be a URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest(f"{what} must be an http(s) URL, not {url[:80]!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InvalidRequest(
            f"{what}: plain http is allowed on loopback only (a token would cross the network "
            f"in clear); use https for {parts.hostname}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidRequest(f"{what} must be a base URL, without query, fragment or user")
    return url if url.endswith("/") else url + "/"


def read_token(path: str) -> str:
    """The token in ``path`` (``~`` expanded; a regular file, no link followed, at most 4 KiB)."""
    # Larger than MAX_TOKEN_BYTES: OSError EFBIG.
    data = read_regular(os.path.expanduser(path), MAX_TOKEN_BYTES, hard_links=True)
    token = data.decode("utf-8", "replace").strip()
    if not token or any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise ValueError(f"{path} does not hold a token (one line of printable ASCII)")
    return token


def stamped(sessions: Iterable[Any], host: str, stale: bool) -> list[dict[str, Any]]:
    """A remote's SessionInfo dicts with ``host`` and ``stale`` set (anything else dropped)."""
    return [
        {**session, "host": host, "stale": stale}
        for session in sessions
        if isinstance(session, dict) and isinstance(session.get("name"), str)
    ]


def merge(lists: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Several hosts' lists as one, in the contract's order: newest start first, ties by name.

    ISO 8601 "Z" strings of one format sort as their times; no start time sorts last.
    """
    merged = [session for sessions in lists for session in sessions]
    merged.sort(key=lambda session: (session["name"], session.get("host") or ""))
    merged.sort(key=lambda session: session.get("startTime") or "", reverse=True)  # stable
    return merged


def matches(session: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    """Whether a SessionInfo dict matches every given filter (``status``, ``epicSlug``, ...)."""
    for key, wanted in filters.items():
        if wanted is None:
            continue
        if key == "outcome":
            worker = session.get("worker")
            if not isinstance(worker, dict) or worker.get("outcome") != wanted:
                return False
        elif session.get(key) != wanted:
            return False
    return True


def attention(session: Mapping[str, Any]) -> int:
    """:func:`~.worker.attention_rank` of a SessionInfo dict (a remote's session)."""
    worker = session.get("worker")
    if isinstance(worker, dict):
        if worker.get("blocker") is not None:
            return ATTENTION_RANKS["BLOCKED"]
        if worker.get("outcome") in ATTENTION_RANKS:
            return ATTENTION_RANKS[worker["outcome"]]
    return RUNNING_RANK if session.get("status") == "running" else REST_RANK
