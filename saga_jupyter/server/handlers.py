"""REST handlers under ``/api/saga/``, served from the poller's state, not computed per request."""

from __future__ import annotations

import asyncio
import json
from http.client import responses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..core.errors import (
    InvalidRequest,
    InvalidSessionName,
    SagaError,
    SessionNotFound,
    TmuxUnavailable,
    TooManySessions,
)
from ..core.info import STATUSES, SessionInfo, iso
from ..core.inputs import load_json, parse_number
from ..core.launch import launch, parse_launch
from ..core.names import parse_name
from ..core.tailer import read_range
from .poller import Poller

if TYPE_CHECKING:
    from .app import SagaJupyterApp

AUTH_RESOURCE = "saga"
LOG_CHUNK = 1 << 20
LOG_CONTENT_TYPE = "text/plain; charset=utf-8"
# The one place domain errors become HTTP: (status, short error).
ERRORS: dict[type[SagaError], tuple[int, str]] = {
    SessionNotFound: (404, "Session not found"),
    InvalidSessionName: (404, "Session not found"),
    InvalidRequest: (400, "Bad request"),
    TooManySessions: (409, "Too many sessions"),
    TmuxUnavailable: (503, "tmux unavailable"),
}


class SagaHandler(APIHandler):
    """Base of every REST handler: one auth resource, JSON errors ``{"error", "message"}``."""

    auth_resource = AUTH_RESOURCE

    @property
    def app(self) -> SagaJupyterApp:
        """The extension app (its configuration)."""
        app: SagaJupyterApp = self.settings["saga_app"]
        return app

    def require_control(self) -> None:
        """Refuse (403) unless the operator enabled control."""
        if not self.app.allow_control:
            raise web.HTTPError(
                403,
                "control is disabled: start Jupyter with --SagaJupyterApp.allow_control=True",
                reason="Control disabled",
            )

    @property
    def poller(self) -> Poller:
        """The extension's poller."""
        poller: Poller = self.settings["saga_poller"]
        return poller

    def session(self, name: str) -> SessionInfo:
        """The session called ``name``, or a domain error (404) for an unknown or malformed name."""
        parse_name(name)
        info = self.poller.by_name.get(name)
        if info is None:
            raise SessionNotFound(f"no SAGA session named {name}")
        return info

    def write_json(self, value: Any, status: int = 200) -> None:
        """Finish with ``value`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Answer every error as ``{"error": short, "message": sentence}``."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        body: dict[str, Any] = {}
        if isinstance(error, SagaError):
            status_code, short = ERRORS.get(type(error), (500, "Internal error"))
            message = str(error)
            if hasattr(error, "code"):
                body["code"] = error.code
        elif isinstance(error, web.HTTPError):
            short = error.reason or responses.get(status_code, "Error")
            message = error.log_message or short
            if error.args:
                message %= error.args
        else:
            short = message = responses.get(status_code, "Error")
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json")
        if status_code == 405:  # RFC 9110: a 405 says which methods the resource has
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.finish(json.dumps({"error": short, "message": message, **body}))

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The HTTP methods this handler implements (tornado's defaults answer 405)."""
        return [
            method
            for method in cls.SUPPORTED_METHODS
            if getattr(cls, method.lower()) is not getattr(web.RequestHandler, method.lower())
        ]

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Domain errors are answers, not server faults: no traceback for them."""
        if isinstance(value, SagaError):
            self.log.debug("saga_jupyter: %s %s: %s", self.request.method, self.request.uri, value)
        else:
            super().log_exception(typ, value, tb)


class SessionsHandler(SagaHandler):
    """``/api/saga/sessions``: the list (GET, with filters) and launching a worker (POST)."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        """List sessions, newest first."""
        status = self.get_query_argument("status", None)
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"status must be 'running' or 'completed', not {status[:40]!r}")
        epic = self.get_query_argument("epicSlug", None)
        story = self.get_query_argument("storySlug", None)
        poller = self.poller
        if status is None and epic is None and story is None:
            self.set_header("Content-Type", "application/json")
            self.finish(poller.sessions_body)
            return
        self.write_json(
            [
                body
                for info, body in zip(poller.sessions, poller.sessions_json, strict=True)
                if info.matches(status, epic, story)
            ]
        )

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Validate the body, start the worker, answer 201 with its SessionInfo."""
        self.require_control()
        body = load_json(self.request.body or b"null", "the body")
        root = self.settings.get("server_root_dir")
        request = await asyncio.to_thread(parse_launch, body, Path(root) if root else None)
        app = self.app
        async with self.settings["saga_launch_lock"]:
            launched = await asyncio.to_thread(
                launch, request, self.poller.discovery.tmux, Path(app.output_dir), app.max_sessions
            )
            self.poller.launched(launched)
            await self.poller.request_scan()
        self.write_json(self.session(launched.name).to_json(), status=201)


class SessionHandler(SagaHandler):
    """``GET /api/saga/sessions/{name}``: one session, with its tmux windows and panes."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        """One session's SessionInfo plus ``windows`` (empty once completed)."""
        info = self.session(name)
        body = info.to_json()
        discovery = self.poller.discovery
        record = discovery.memory.get(name)
        if record is not None:
            body.update(
                id=record.id, command=record.command, cwd=record.cwd, worktree=record.worktree
            )
        body["windows"] = []
        if info.status == "running":
            try:
                if discovery.tmux_error is not None:  # failing now: do not wait for it again
                    raise TmuxUnavailable(discovery.tmux_error)
                body["windows"] = await asyncio.to_thread(discovery.tmux.windows, name) or []
            except TmuxUnavailable as error:
                body["windows"] = None
                body["tmuxError"] = str(error)
        self.write_json(body)


class StatusHandler(SagaHandler):
    """``GET /api/saga/status``: health of tmux, the output directory and the channel."""

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Report health."""
        poller = self.poller
        discovery = poller.discovery
        running = sum(1 for info in poller.sessions if info.status == "running")
        self.write_json(
            {
                "tmux": {
                    "available": discovery.tmux_error is None,
                    "serverRunning": discovery.tmux.server_running,
                    "version": poller.tmux_version,
                    "socketName": discovery.tmux.socket_name,
                    "error": discovery.tmux_error,
                    "backoff": discovery.tmux.backoff,
                },
                "store": {
                    "path": str(poller.store.state_file),
                    "error": poller.store.last_error,
                    "backup": str(poller.store.backup_path) if poller.store.backup_path else None,
                    "saveError": poller.store.save_error,
                    "memoryOnly": poller.store.refusal is not None,
                    "writes": poller.store_writes,
                },
                "outputDir": str(discovery.output_dir),
                "outputDirExists": poller.output_dir_exists,
                "outputDirWarning": poller.output_dir_warning,
                "sessions": {"running": running, "completed": len(poller.sessions) - running},
                "lastPoll": iso(poller.last_poll),
                "pollInterval": poller.interval,
                "clients": len(self.settings["saga_channels"]),
                "logStreams": len(self.settings["saga_log_streams"]),
            }
        )


class LogHandler(SagaHandler):
    """``GET /api/saga/sessions/{name}/log``: the output file's bytes, or a byte range of them."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        """Stream ``length`` bytes (default: to the end) from ``offset`` (default 0)."""
        path = self.session(name).output_file
        offset = self._int_argument("offset")
        length = self._int_argument("length")
        first = LOG_CHUNK if length is None else min(LOG_CHUNK, length)
        try:
            data, size = await asyncio.to_thread(read_range, path, offset or 0, first)
        except FileNotFoundError:
            raise web.HTTPError(404, f"{name} has no output file", reason="No output") from None
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
                data, _ = await asyncio.to_thread(read_range, path, position, chunk)
        # APIHandler.finish sets the type: application/json unless told, for an empty body too.
        self.finish(set_content_type=LOG_CONTENT_TYPE)

    def _int_argument(self, name: str) -> int | None:
        value = self.get_query_argument(name, None, strip=False)  # " 1" is not ASCII digits
        return None if value is None else parse_number(value, name)
