"""Federation: this server's sessions and its remotes' as one list, and requests routed by host.

The merged list is encoded once per change (of this server's list or of a remote's) and served
from memory, as the poller's own list is; changes arriving within 0.1 s are merged once.
Requests naming a ``host`` go to that remote with its token, its answer passed through as it
is: a remote that refuses control refuses it here too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from jupyter_server.base.handlers import APIHandler
from tornado import httputil, web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..core.errors import HostNotFound, InvalidRequest
from ..core.hosts import RemoteSpec, attention, matches, merge, read_token
from ..core.inputs import check_number
from ..core.saga.names import parse_name
from .poller import Poller, newest
from .remote_errors import CONNECT_TIMEOUT, describe
from .remote_projects import RemoteProjectsSet
from .remotes import Proxied, Remote
from .subscriptions import VIEWS, Subscriber, error_frame

Broadcast = Callable[[bytes, int], None]
REQUEST_TIMEOUT = 60.0
# Changes within this many seconds are merged and sent once: five remotes each rescanning
# every few seconds would otherwise send every viewer the whole merged list five times.
MERGE_DELAY = 0.1
MAX_HOST = 64


class Federation:
    """The remotes of one extension, and the list merged from them and this server."""

    def __init__(
        self,
        specs: list[RemoteSpec],
        poller: Poller,
        broadcast: Broadcast,
        log: logging.Logger,
        frames: Callable[[bytes], None] | None = None,
    ) -> None:
        self.poller = poller
        self.broadcast = broadcast
        self.log = log
        # frames: what every client gets (a remote's stories:updated, its stories stamped).
        relay = frames or (lambda _: None)
        self.projects = RemoteProjectsSet(lambda _host, frame: relay(frame), log)
        stories = self.projects.remote_stories
        self.remotes = {spec.name: Remote(spec, self.changed, log, stories) for spec in specs}
        self.body = b"[]"
        self.total = 0
        self.merged: list[dict[str, Any]] = []
        self._merging: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Read every token (off the loop) and connect every remote."""
        for remote in self.remotes.values():
            try:
                token = await asyncio.to_thread(read_token, remote.spec.token_file)
            except (OSError, ValueError) as error:
                detail = error.strerror if isinstance(error, OSError) else str(error)
                remote.refuse(f"cannot read token_file {remote.spec.token_file}: {detail}")
                continue
            remote.start(token)
        self._merge()

    def stop(self) -> None:
        """Close every remote's lanes."""
        for remote in self.remotes.values():
            remote.stop()
        self.projects.stop()
        if self._merging is not None:
            self._merging.cancel()

    def changed(self, urgent: bool = False) -> None:
        """A host's list changed: merge once for every change within :data:`MERGE_DELAY`.

        ``urgent``: a remote went stale or came back: merged now, so that the list agrees with
        ``/status`` from the moment it says so.
        """
        if urgent:
            if self._merging is not None:
                self._merging.cancel()
            self._merge()
        elif self._merging is None:
            self._merging = asyncio.get_running_loop().call_later(MERGE_DELAY, self._merge)

    def _merge(self) -> None:
        self._merging = None
        poller = self.poller
        pairs = list(zip(poller.sessions, poller.sessions_json, strict=True))
        local = [body for _, body in newest(pairs)]
        self.merged = merge([local, *(remote.sessions for remote in self.remotes.values())])
        self.total = poller.total + sum(remote.total for remote in self.remotes.values())
        self.body = json.dumps(self.merged).encode()
        self.broadcast(self.body, self.total)

    def sessions(
        self, host: str | None, sort: str | None, **filters: str | None
    ) -> tuple[bytes | list[dict[str, Any]], int]:
        """The merged list, filtered (``host=""``: this server's own), and how many match."""
        if host is not None and host != "" and host not in self.remotes:
            raise HostNotFound(f"no host named {host[:MAX_HOST]!r}: see remotes in /status")
        if host is None and sort != "attention" and all(v is None for v in filters.values()):
            return self.body, self.total
        wanted = None if host is None else (host or None)
        found = [
            session
            for session in self.merged
            if (host is None or session.get("host") == wanted) and matches(session, filters)
        ]
        if sort == "attention":
            found.sort(key=attention)
        return found, len(found)

    def status(self) -> list[dict[str, Any]]:
        """Each remote's state for ``/api/saga/status``."""
        return [remote.status() for remote in self.remotes.values()]

    def remote(self, host: Any) -> Remote:
        """The remote called ``host``: ``InvalidRequest`` if none."""
        remote = self.remotes.get(host) if isinstance(host, str) else None
        if remote is None:
            raise HostNotFound(f"no host named {str(host)[:MAX_HOST]!r}")
        return remote

    async def subscribe(
        self, client: Subscriber, host: Any, name: Any, offset: Any, view: Any
    ) -> None:
        """Follow a remote session's log for ``client`` (frames carry ``host``)."""
        try:
            remote = self.remote(host)
            parse_name(name)
            if offset is not None:
                check_number(offset, "offset")
            if view not in VIEWS:
                raise InvalidRequest(f"view must be 'raw' or 'transcript', not {str(view)[:40]!r}")
        except (HostNotFound, InvalidRequest, ValueError) as error:
            await client.send_frame({**error_frame(name, str(error)), "host": host})
            return
        remote.unsubscribe(client, name)  # subscribing again restarts from the new offset
        remote.subscribe(Proxied(client, name, view, offset))

    def unsubscribe(self, client: Subscriber, host: Any, name: Any) -> None:
        """Stop following a remote session's log."""
        remote = self.remotes.get(host) if isinstance(host, str) else None
        if remote is not None and isinstance(name, str):
            remote.unsubscribe(client, name)

    def client_gone(self, client: Subscriber) -> None:
        """Release every proxied subscription of a closed client."""
        for remote in self.remotes.values():
            remote.client_gone(client)

    async def pass_through(self, handler: APIHandler, host: str, path: str) -> None:
        """Answer ``handler``'s request with the remote ``host``'s answer to the same request."""
        await pass_through(handler, self.remote(host), path)


async def pass_through(handler: web.RequestHandler, remote: Remote, path: str) -> None:
    """Answer ``handler``'s request with the remote's answer to the same request.

    ``path`` is relative to the server's base URL (as received: still percent-encoded);
    the query goes along without ``host``. The body is streamed as it comes (a log can be
    large).
    """
    host = remote.spec.name
    if remote.token == "" or remote.state == "stale":  # fail fast: it does not answer now
        raise web.HTTPError(502, f"{host}: {remote.error}", reason="Remote unavailable")
    query = [
        (key, value.decode("utf-8", "replace"))
        for key, values in handler.request.query_arguments.items()
        if key != "host"
        for value in values
    ]
    url = remote.spec.url + path + ("?" + urlencode(query) if query else "")
    started: list[bool] = []
    redirected: list[bool] = []
    content_type = ["application/json"]

    def on_header(line: str) -> None:
        if line.startswith("HTTP/"):
            code = httputil.parse_response_start_line(line.strip()).code
            if 300 <= code < 400:  # not followed: our token is for the remote alone
                redirected.append(True)
            else:
                handler.set_status(code)
        elif redirected:
            return
        elif ":" in line:
            for key, value in httputil.HTTPHeaders.parse(line).get_all():
                if key.lower() == "content-type":
                    content_type[0] = value  # sent with the first flush, and by finish
                if key.lower() in PASSED_HEADERS:
                    handler.set_header(key, value)

    def on_chunk(chunk: bytes) -> None:
        if redirected:
            return
        started.append(True)
        handler.write(chunk)
        handler.flush()

    request = HTTPRequest(
        url,
        method=handler.request.method or "GET",
        headers={"Authorization": f"token {remote.token}"},
        body=b"" if handler.request.method == "POST" else None,
        connect_timeout=CONNECT_TIMEOUT,
        request_timeout=REQUEST_TIMEOUT,
        follow_redirects=False,  # our token goes to the remote, not where it points
        validate_cert=True,
        header_callback=on_header,
        streaming_callback=on_chunk,
    )
    try:
        await AsyncHTTPClient().fetch(request, raise_error=False)
    except HTTPClientError as error:
        if not started:
            raise web.HTTPError(
                502, f"{host}: {describe(error, remote.spec)[0]}", reason="Remote unavailable"
            ) from None
    except (OSError, asyncio.TimeoutError) as error:
        if not started:
            raise web.HTTPError(
                502, f"{host}: {describe(error, remote.spec)[0]}", reason="Remote unavailable"
            ) from None
    if redirected:
        message = f"{host}: answered a redirect, not followed (is it a saga_jupyter server?)"
        raise web.HTTPError(502, message, reason="Remote unavailable")
    if isinstance(handler, APIHandler):  # its finish sets the type: application/json unless told
        handler.finish(set_content_type=content_type[0])
    else:
        handler.finish()


PASSED_HEADERS = ("content-type", "x-log-offset", "x-log-size", "x-saga-total")
