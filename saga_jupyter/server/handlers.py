"""REST handlers under ``/api/saga/``: HTTP in, the manager's verbs, HTTP out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..core.inputs import parse_number
from ..core.watch.tailer import read_range
from .base import SagaHandler

LOG_CHUNK = 1 << 20
LOG_CONTENT_TYPE = "text/plain; charset=utf-8"


class SessionsHandler(SagaHandler):
    """``/api/saga/sessions``: the list (GET, with filters) and launching a worker (POST)."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        """List sessions, newest first; ``X-Saga-Total``: how many match, listed or not.

        The list holds the newest ``MAX_LISTED`` (1,000) of them, and every running one.
        """
        argument = self.get_query_argument
        found, total = self.manager.sessions(
            argument("status", None),
            argument("epicSlug", None),
            argument("storySlug", None),
            argument("outcome", None),
            argument("sort", None),
        )
        self.set_header("X-Saga-Total", str(total))
        if isinstance(found, bytes):  # encoded once per change, not per request
            self.set_header("Content-Type", "application/json")
            self.finish(found)
        else:
            self.write_json(found)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Validate the body, start the worker, answer 201 with its SessionInfo."""
        root = self.settings.get("server_root_dir")
        info = await self.manager.launch(self.request.body, Path(root) if root else None)
        self.write_json(info.to_json(), status=201)


class SessionHandler(SagaHandler):
    """``GET /api/saga/sessions/{name}``: one session, with its tmux windows and panes."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        """One session's SessionInfo plus ``windows`` (empty once completed)."""
        self.write_json(await self.manager.detail(name))


class StatusHandler(SagaHandler):
    """``GET /api/saga/status``: health of tmux, the output directory and the channel."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Report health."""
        self.write_json(self.manager.status())


class LogHandler(SagaHandler):
    """``GET /api/saga/sessions/{name}/log``: the output file's bytes, or a byte range of them."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        """Stream ``length`` bytes (default: to the end) from ``offset`` (default 0)."""
        path = self.manager.get(name).output_file
        offset = self._int_argument("offset")
        length = self._int_argument("length")
        first = LOG_CHUNK if length is None else min(LOG_CHUNK, length)
        try:
            data, size = await asyncio.to_thread(read_range, path, offset or 0, first)
        except FileNotFoundError:
            raise web.HTTPError(404, f"{name} has no output file", reason="No output") from None
        except PermissionError:
            raise web.HTTPError(
                403, f"{name}'s output file cannot be read", reason="Output unreadable"
            ) from None
        position = offset or 0
        end = size if length is None else min(size, position + length)
        self.set_header("Content-Type", LOG_CONTENT_TYPE)  # sent with the first flush
        self.set_header("X-Log-Offset", str(position))
        self.set_header("X-Log-Size", str(size))
        while data and position < end:
            self.write(data)
            await self.flush()
            position += len(data)
            if position < end:
                chunk = min(LOG_CHUNK, end - position)
                try:
                    data, _ = await asyncio.to_thread(read_range, path, position, chunk)
                except OSError:  # gone or unreadable since: what was sent is what there was
                    break
        # APIHandler.finish sets the type: application/json unless told, for an empty body too.
        self.finish(set_content_type=LOG_CONTENT_TYPE)

    def _int_argument(self, name: str) -> int | None:
        value = self.get_query_argument(name, None, strip=False)  # " 1" is not ASCII digits
        return None if value is None else parse_number(value, name)
