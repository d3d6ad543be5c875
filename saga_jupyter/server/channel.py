"""The channel: one WebSocket, ``/api/saga/channels``, for session lists and log streams.

Every frame is a JSON object with a ``type``. Frames the server cannot understand get an
``error`` frame back and the connection stays open. A broadcast is serialised once and written
to every client. A client that stops reading is closed (1008) once more than
``max_unsent_bytes`` of frames wait for it; it can reconnect and resume by offset. Many slow
clients together are bounded too: past ``max_unsent_bytes_total`` waiting for all of them, those
with the most waiting are closed the same way, until what waits for the rest is within it.

Frames go straight to the connection's stream as whole WebSocket frames (:func:`text_header`),
not through ``write_message``: that one wraps every write in a task of its own, which with
twenty viewers of one session cost more than building the frames. The channel negotiates no
compression, so a frame's bytes are the same for every client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.iostream import IOStream, StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..core.errors import InvalidRequest
from ..core.inputs import load_json
from .base import AUTH_RESOURCE, SagaMixin
from .poller import ListUpdate

# Client frames are small; a larger one is answered with an error, read but not parsed.
MAX_CLIENT_FRAME = 64 * 1024
MAX_ACCEPTED_FRAME = 32 * 1024 * 1024


class Channels:
    """The open channel connections of one extension."""

    def __init__(self, max_unsent_bytes: int, max_unsent_bytes_total: int | None = None) -> None:
        self.max_unsent_bytes = max_unsent_bytes
        self.max_unsent_bytes_total = max_unsent_bytes_total
        #: Bytes of frames the sockets of all clients have not taken, closing clients' included
        #: (tornado holds them until the connection ends).
        self.unsent = 0
        self._clients: set[ChannelHandler] = set()
        self._sends: set[asyncio.Future[bool]] = set()

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, client: ChannelHandler) -> None:
        """Register a newly opened connection."""
        self._clients.add(client)

    def discard(self, client: ChannelHandler) -> None:
        """Forget a closed connection."""
        self._clients.discard(client)

    def unsent_grew(self, size: int) -> None:
        """Count ``size`` more bytes waiting; past the total bound, close the slowest clients."""
        self.unsent += size
        total = self.max_unsent_bytes_total
        if total is None or self.unsent <= total:
            return
        # Closing clients free their bytes once tornado gives up on them (its close timeout):
        # only the open ones can be asked to give way now, the most waiting first.
        open_clients = [client for client in self._clients if not client.closing]
        waiting = sum(client.unsent for client in open_clients)
        for client in sorted(open_clients, key=lambda client: client.unsent, reverse=True):
            if waiting <= total:
                break
            waiting -= client.unsent
            client.close_slow(f"over {total} bytes unsent to all clients, the most to this one")

    def unsent_shrank(self, size: int) -> None:
        """Count ``size`` bytes the socket took (or dropped on closing)."""
        self.unsent -= size

    def sessions_updated(self, update: ListUpdate) -> None:
        """Broadcast the new session list to every client."""
        self.broadcast_sessions(update.body, update.total)

    def broadcast_sessions(self, body: bytes, total: int) -> None:
        """Broadcast an encoded session list (this server's, or merged with its remotes')."""
        frame = sessions_frame(body, total)
        for client in list(self._clients):
            client.send_sessions(frame)

    def stories_updated(self, stories: list[dict[str, Any]]) -> None:
        """Broadcast the stories that changed (StorySummary each) to every client."""
        frame = json.dumps({"type": "stories:updated", "stories": stories}).encode()
        for client in list(self._clients):
            send = asyncio.ensure_future(client.send_frame(frame))
            self._sends.add(send)  # held until done: a task nobody holds may be collected
            send.add_done_callback(self._sends.discard)

    def broadcast(self, frame: bytes) -> None:
        """Write an encoded frame to every client (a remote's ``stories:updated``)."""
        for client in list(self._clients):
            client.write_frame(frame)

    def close_all(self) -> None:
        """Close every connection (the extension stops)."""
        for client in list(self._clients):
            client.close(1001, "server stopping")
        self._clients.clear()


def text_header(size: int) -> bytes:
    """The header of a whole, unmasked WebSocket text frame of ``size`` bytes (RFC 6455, 5.2)."""
    if size < 126:
        return struct.pack("!BB", 0x81, size)
    if size < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, size)
    return struct.pack("!BBQ", 0x81, 127, size)


def sessions_frame(sessions_body: bytes, total: int) -> bytes:
    """The ``sessions:updated`` frame (UTF-8 JSON text) for an already encoded list.

    ``total``: how many sessions there are; the list holds the newest (see ``MAX_LISTED``).
    """
    return b'{"type": "sessions:updated", "total": %d, "sessions": ' % total + sessions_body + b"}"


def error_frame(error: str) -> dict[str, Any]:
    """An ``error`` frame: the client sent something the server cannot understand."""
    return {"type": "error", "error": error}


class ChannelHandler(SagaMixin, WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One client's channel connection.

    Replies are awaited, so a client that does not read stops being read from. Session lists
    are coalesced: at most one is in flight and one waits (the newest), whatever the pace.
    """

    _pending_sessions: bytes | None = None
    _sessions_sender: asyncio.Future[None] | None = None
    _unsent = 0  # bytes of frames written but not yet taken by the socket
    _done: asyncio.Future[None]

    @property
    def max_message_size(self) -> int:
        """Accept large frames so that they get an ``error`` frame, not a dropped connection."""
        return MAX_ACCEPTED_FRAME

    def get_compression_options(self) -> None:
        """No compression: frames are built once, as bytes the same for every client."""
        return None

    @property
    def channels(self) -> Channels:
        """Every open connection of this extension."""
        channels: Channels = self.extensionapp.channels  # type: ignore[attr-defined]
        return channels

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authorize, then upgrade to a WebSocket."""
        if not await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        ):
            raise web.HTTPError(403)
        await self.manager.poller.wait_listed()  # the first list it gets is the real one
        await ensure_async(super().get(*args, **kwargs))  # type: ignore[arg-type]

    def open(self, *args: str, **kwargs: str) -> None:
        """Register the client and send it the current list."""
        super().open(*args, **kwargs)  # Jupyter's keep-alive pings: a vanished client is closed
        self.set_nodelay(True)  # small frames (a line of output) go out at once
        self._done = asyncio.get_running_loop().create_future()  # what a frame sent whole gives
        self._done.set_result(None)
        self.channels.add(self)
        self.send_sessions(sessions_frame(*self.manager.listing()))

    def on_close(self) -> None:
        """Forget the client and release its log subscriptions."""
        # Jupyter's keep-alive callback holds this handler and the handler holds it: a cycle,
        # freed only by a full collection, rare in a server (a minute's viewers of a front
        # server held about 1 MiB until one ran). Dropped, the handler goes by refcount.
        if self.ping_callback is not None:
            self.ping_callback.stop()
            self.ping_callback = None
        self._sessions_sender = None  # a task keeps its context, which names this handler
        self.channels.discard(self)
        self.manager.log_streams.client_gone(self)
        if self.manager.federation is not None:
            self.manager.federation.client_gone(self)

    async def send_frame(self, frame: dict[str, Any] | bytes) -> bool:
        """Write one text frame and wait until the socket took it; ``False`` once closed."""
        written = self.write_frame(frame)
        if written is None:
            return False
        try:
            await written
        except (WebSocketClosedError, StreamClosedError):
            return False
        return True

    def write_frame(self, frame: dict[str, Any] | bytes) -> asyncio.Future[None] | None:
        """Start writing one text frame (a dict, or its UTF-8 JSON): ``None`` once closed.

        The future is done when the socket took the frame, at once when it took it whole right
        away (the usual case), so a log stream can read on without waiting for the loop's next
        turn.
        """
        # ensure_ascii: the C encoder's fastest path, twice as fast on ANSI-heavy output.
        payload = frame if isinstance(frame, bytes) else json.dumps(frame).encode()
        protocol = self.ws_connection
        stream = None if protocol is None else protocol.stream
        if protocol is None or stream is None or protocol.is_closing():
            return None
        header = text_header(len(payload))
        sent = 0
        if type(stream) is IOStream and not stream.writing():
            # Nothing of the stream's is waiting: the socket can take the frame at once, in
            # order, without a future and its callbacks per write (TLS streams do not do this),
            # and without copying the payload behind its header (sendmsg gathers both).
            with contextlib.suppress(OSError):  # the stream's own write below sees the error
                sent = stream.socket.sendmsg([header, payload])
                if sent == len(header) + len(payload):
                    return self._done
        # The rest, the payload not copied (one frame goes to every viewer of a session).
        try:
            if sent < len(header):
                stream.write(header[sent:])
                written = stream.write(payload)
            else:
                written = stream.write(memoryview(payload)[sent - len(header) :])
        except StreamClosedError:
            return None
        if not written.done():
            self._count_unsent(len(header) + len(payload) - sent, written)
        return written

    @property
    def unsent(self) -> int:
        """Bytes of frames written to this client that its socket has not taken yet."""
        return self._unsent

    @property
    def closing(self) -> bool:
        """Whether the connection is closed or closing: no further frame will be written."""
        protocol = self.ws_connection
        return protocol is None or protocol.is_closing()

    def close_slow(self, why: str) -> None:
        """Close a client that lets frames wait (1008): it may reconnect and resume by offset."""
        self.log.warning(
            "saga_jupyter: closing a channel client that stopped reading: %d bytes unsent (%s)",
            self._unsent,
            why,
        )
        self.close(1008, f"too slow: {why}; reconnect, resume by offset")

    def _count_unsent(self, size: int, written: asyncio.Future[None]) -> None:
        """Count a frame the socket has not taken; close a client that lets too many wait."""
        self._unsent += size
        written.add_done_callback(lambda _: self._taken(size))
        limit = self.channels.max_unsent_bytes
        if self._unsent > limit:  # then closing: no further frame gets this far
            self.close_slow(f"over {limit} bytes unsent")
        self.channels.unsent_grew(size)

    def _taken(self, size: int) -> None:
        self._unsent -= size
        self.channels.unsent_shrank(size)

    def send_sessions(self, frame: bytes) -> None:
        """Send a session list; a newer one replaces any not yet sent."""
        self._pending_sessions = frame
        if self._sessions_sender is None or self._sessions_sender.done():
            self._sessions_sender = asyncio.ensure_future(self._send_pending_sessions())

    async def _send_pending_sessions(self) -> None:
        while self._pending_sessions is not None:
            frame, self._pending_sessions = self._pending_sessions, None
            if not await self.send_frame(frame):
                return

    async def on_message(self, message: str | bytes) -> None:
        """Dispatch one client frame by its ``type``; anything else gets an ``error`` frame."""
        frame, error = parse_frame(message)
        if frame is None:
            await self.send_frame(error_frame(error))
            return
        federation = self.manager.federation
        host = frame.get("host")
        if frame["type"] == "ping":
            await self.send_frame({"type": "pong"})
        elif host is not None and frame["type"] == "subscribe:logs":  # a remote's session
            if federation is None:
                await self.send_frame(error_frame("this server has no remotes"))
                return
            name, offset = frame.get("sessionName"), frame.get("offset")
            await federation.subscribe(self, host, name, offset, frame.get("view", "raw"))
        elif host is not None and frame["type"] == "unsubscribe:logs":
            if federation is not None:
                federation.unsubscribe(self, host, frame.get("sessionName"))
        elif frame["type"] == "subscribe:logs":
            await self.manager.log_streams.subscribe(
                self, frame.get("sessionName"), frame.get("offset"), frame.get("view", "raw")
            )
        elif frame["type"] == "unsubscribe:logs":
            self.manager.log_streams.unsubscribe(self, frame.get("sessionName"))
        else:
            await self.send_frame(error_frame(f"unknown message type: {frame['type'][:100]!r}"))


def parse_frame(message: str | bytes) -> tuple[dict[str, Any] | None, str]:
    """A client frame as a dict with a string ``type``, or ``None`` and why not."""
    if isinstance(message, bytes):
        return None, "binary frames are not understood; send JSON text"
    if len(message) > MAX_CLIENT_FRAME:
        return None, f"frame too large ({len(message)} characters; at most {MAX_CLIENT_FRAME})"
    try:
        frame = load_json(message, "frame")
    except InvalidRequest as error:
        return None, str(error)
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None, "frame must be a JSON object with a string 'type'"
    return frame, ""
