"""Reading a Jupyter server's ``/api/saga/...`` REST routes over HTTP, and finding this machine's.

Plain ``urllib`` (a command or a kernel need no HTTP stack of their own): the token goes in the
``Authorization`` header, the URL follows the ``remotes`` rule (https, or http on loopback
only), an answer is read with a cap and no redirect is followed (a server is trusted no more
than its answers). A running Jupyter server is found from the ``jpserver-<pid>.json`` file it
writes in Jupyter's runtime directory.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from .hosts import check_url
from .watch.files import read_regular

TIMEOUT = 30.0
MAX_BODY = 64 << 20  # a list of 10,000 sessions is ~20 MiB
MAX_INFO_BYTES = 64 << 10  # a jpserver-*.json file


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a token is not sent where the server we asked points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """Follow none (the 3xx is raised as an HTTPError)."""
        return None


OPENER = urllib.request.build_opener(NoRedirect)


class ServerError(OSError):
    """A server that answered with an error, or could not be asked; the message says which."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ServerClient:
    """A Jupyter server running saga_jupyter, asked over REST with a token."""

    url: str  # its base URL, ending in "/"
    token: str = ""

    @classmethod
    def of(cls, url: str, token: str = "", what: str = "server") -> ServerClient:
        """A client of ``url`` (checked: https, or http on loopback only)."""
        return cls(check_url(url, what), token)

    def get(self, path: str, query: Mapping[str, str | None] | None = None) -> Any:
        """The JSON answer to ``GET <url><path>?<query>`` (``None`` values left out).

        ``ServerError`` (an ``OSError``) saying what went wrong, with the HTTP status if any.
        """
        body, _ = self._get(path, query, MAX_BODY)
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise ServerError(f"{self.url} did not answer JSON for {path}") from None

    def get_bytes(
        self,
        path: str,
        query: Mapping[str, str | None] | None = None,
        *,
        limit: int = MAX_BODY,
        timeout: float = TIMEOUT,
    ) -> tuple[bytes, dict[str, str]]:
        """The body of ``GET <url><path>?<query>`` (at most ``limit`` bytes) and its headers.

        Header names in lower case. A body longer than ``limit`` is a ``ServerError`` (ask for
        a byte range no longer than it), as is everything :meth:`get` refuses. ``timeout``:
        seconds the server may stay silent.
        """
        return self._get(path, query, limit, timeout)

    def _get(
        self,
        path: str,
        query: Mapping[str, str | None] | None,
        limit: int,
        timeout: float = TIMEOUT,
    ) -> tuple[bytes, dict[str, str]]:
        given = {key: value for key, value in (query or {}).items() if value is not None}
        target = self.url + path + ("?" + urlencode(given) if given else "")
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        request = urllib.request.Request(target, headers=headers)  # noqa: S310 - http(s) only
        try:
            with OPENER.open(request, timeout=timeout) as response:
                body = response.read(limit + 1)
                received = {key.lower(): value for key, value in response.headers.items()}
        except urllib.error.HTTPError as error:
            message = f"{self.url} answered {error.code}: {_message(error)}"
            raise ServerError(message, error.code) from None
        except urllib.error.URLError as error:
            raise ServerError(f"cannot reach {self.url}: {error.reason}") from None
        except (TimeoutError, OSError) as error:
            raise ServerError(f"cannot reach {self.url}: {error}") from None
        if len(body) > limit:
            raise ServerError(f"{self.url} answered more than {_size(limit)} for {path}")
        return body, received


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit:,} bytes"


def _message(error: urllib.error.HTTPError) -> str:
    if error.code in (401, 403):
        return "the token was refused"
    try:
        return str(json.loads(error.read(65536))["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return str(error.reason)


def runtime_dir() -> Path:
    """Jupyter's runtime directory, where a running server writes ``jpserver-<pid>.json``."""
    from jupyter_core.paths import jupyter_runtime_dir  # light: no server imported

    return Path(jupyter_runtime_dir())


def running_servers(directory: Path | None = None) -> Iterator[ServerClient]:
    """The running Jupyter servers of this machine (and user), the newest first."""
    directory = runtime_dir() if directory is None else directory
    try:
        files = sorted(directory.glob("jpserver-*.json"), key=_mtime, reverse=True)
    except OSError:
        return
    for path in files:
        try:
            info = json.loads(read_regular(str(path), MAX_INFO_BYTES))
            pid, url, token = int(info["pid"]), str(info["url"]), str(info.get("token") or "")
            os.kill(pid, 0)  # still running? (a server killed leaves its file behind)
            parts = urlsplit(url)
            if parts.scheme == "http":  # listening on all addresses: asked on loopback
                url = f"http://127.0.0.1:{parts.port or 80}{parts.path or '/'}"
            yield ServerClient.of(url, token, str(path))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not readable, not ours, or gone


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
