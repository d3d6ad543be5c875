"""The channel: one WebSocket, ``/api/saga/channels``, for session lists (and, later, log streams).

Every frame is a JSON object with a ``type``. Frames the server cannot understand get an
``error`` frame back and the connection stays open. A broadcast is serialised once and written
to every client.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .handlers import AUTH_RESOURCE
from .poller import Poller


class Channels:
    """The open channel connections of one extension."""

    def __init__(self) -> None:
        self._clients: set[ChannelHandler] = set()

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, client: ChannelHandler) -> None:
        """Register a newly opened connection."""
        self._clients.add(client)

    def discard(self, client: ChannelHandler) -> None:
        """Forget a closed connection."""
        self._clients.discard(client)

    def sessions_updated(self, sessions: list[dict[str, Any]]) -> None:
        """Broadcast the new session list to every client."""
        frame = sessions_frame(sessions)
        for client in list(self._clients):
            client.send(frame)

    def close_all(self) -> None:
        """Close every connection (the extension stops)."""
        for client in list(self._clients):
            client.close(1001, "server stopping")
        self._clients.clear()


def sessions_frame(sessions: list[dict[str, Any]]) -> str:
    """The ``sessions:updated`` frame for a list."""
    return json.dumps({"type": "sessions:updated", "sessions": sessions})


def error_frame(error: str) -> dict[str, Any]:
    """An ``error`` frame: the client sent something the server cannot understand."""
    return {"type": "error", "error": error}


class ChannelHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One client's channel connection."""

    auth_resource = AUTH_RESOURCE

    @property
    def channels(self) -> Channels:
        """Every open connection of this extension."""
        channels: Channels = self.settings["saga_channels"]
        return channels

    @property
    def poller(self) -> Poller:
        """The extension's poller."""
        poller: Poller = self.settings["saga_poller"]
        return poller

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize, then upgrade to a WebSocket."""
        if not await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        ):
            raise web.HTTPError(403)
        await ensure_async(super().get(*args, **kwargs))  # type: ignore[arg-type]

    def open(self, *args: str, **kwargs: str) -> None:
        """Register the client and send it the current list."""
        self.channels.add(self)
        self.send(sessions_frame(self.poller.sessions_json))

    def on_close(self) -> None:
        """Forget the client."""
        self.channels.discard(self)

    def send(self, frame: str | dict[str, Any]) -> None:
        """Write one frame; a client that went away is simply forgotten."""
        try:
            self.write_message(frame if isinstance(frame, str) else json.dumps(frame))
        except WebSocketClosedError:
            self.channels.discard(self)

    def on_message(self, message: str | bytes) -> None:
        """Dispatch one client frame by its ``type``."""
        if isinstance(message, bytes):
            self.send(error_frame("binary frames are not understood; send JSON text"))
            return
        try:
            frame = json.loads(message)
        except ValueError:
            self.send(error_frame("frame is not valid JSON"))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            self.send(error_frame("frame must be a JSON object with a string 'type'"))
            return
        handler = self.message_handlers.get(frame["type"])
        if handler is None:
            self.send(error_frame(f"unknown message type: {frame['type'][:100]!r}"))
            return
        handler(self, frame)

    def on_ping_frame(self, frame: dict[str, Any]) -> None:
        """Answer ``ping`` with ``pong``."""
        self.send({"type": "pong"})

    message_handlers: ClassVar[dict[str, Callable[[ChannelHandler, dict[str, Any]], None]]] = {
        "ping": on_ping_frame,
    }
