"""The one handler base of the extension: REST and the channel share its auth and its manager.

Domain errors (``core/errors.py``) become HTTP here, in one table.
"""

from __future__ import annotations

import json
from http.client import responses
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..core.errors import (
    AmbiguousStory,
    ControlDisabled,
    HostNotFound,
    InvalidRequest,
    InvalidSessionName,
    SagaError,
    SessionNotFound,
    SessionNotRunning,
    StoryNotFound,
    TmuxUnavailable,
    TooManySessions,
)
from .manager import SessionManager

AUTH_RESOURCE = "saga"
# The one place domain errors become HTTP: (status, short error).
ERRORS: dict[type[SagaError], tuple[int, str]] = {
    SessionNotFound: (404, "Session not found"),
    InvalidSessionName: (404, "Session not found"),
    HostNotFound: (404, "Host not found"),
    InvalidRequest: (400, "Bad request"),
    TooManySessions: (409, "Too many sessions"),
    SessionNotRunning: (409, "Not running"),
    ControlDisabled: (403, "Control disabled"),
    TmuxUnavailable: (503, "tmux unavailable"),
    StoryNotFound: (404, "Story not found"),
    AmbiguousStory: (409, "Ambiguous story"),
}


class SagaMixin(ExtensionHandlerMixin):
    """What every handler of the extension has: one auth resource and the manager."""

    auth_resource = AUTH_RESOURCE

    @property
    def manager(self) -> SessionManager:
        """The extension's session manager (its domain verbs)."""
        manager: SessionManager = self.extensionapp.manager  # type: ignore[attr-defined]
        return manager


class SagaHandler(SagaMixin, APIHandler):
    """Base of every REST handler: JSON errors ``{"error", "message"}``."""

    async def prepare(self) -> None:  # type: ignore[override]
        """Answer only once the sessions are listed (right after a start, the first scan)."""
        await super().prepare()
        await self.manager.poller.wait_listed()

    async def passed_through(self) -> bool:
        """Answer with a remote's answer when the request names a ``host`` (``?host=``)."""
        host = self.get_query_argument("host", "")
        if not host:
            return False
        federation = self.manager.federation
        if federation is None:
            raise HostNotFound(f"no host named {host[:64]!r}: this server has no remotes")
        await federation.pass_through(self, host, self.request.path[len(self.base_url) :])
        return True

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
