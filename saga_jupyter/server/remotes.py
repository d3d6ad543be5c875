"""Remotes: the channel connections to other Jupyter servers running saga_jupyter.

Each remote has lanes, each one authenticated WebSocket to its ``/api/saga/channels`` with a
task of its own: connect, read, ping, back off (1 s doubling to 30 s, with jitter). Lane 0
carries the remote's session list; log subscriptions go on the first lane not already carrying
that session (a remote keeps one subscription per session and connection), a new lane when all
do. Nothing that serves this server's own clients awaits a remote: frames are written without
waiting, and each client's own bound (``max_unsent_bytes``) closes a client that stops reading.

A lane that receives nothing (not even the ``pong`` to its ``ping`` every 2 s) for 5 s is
dropped: a frozen remote is stale within 7 s. Each proxied subscription keeps the offset just
after the last data it forwarded; a lane that comes back subscribes again from there, so a
stream resumes with no gap and no duplicate (its new first frame reaches the client as a
continuation, ``isInitial: false``).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from ..core.hosts import RemoteSpec, stamped
from ..core.info import iso
from .remote_errors import CHANNEL_PATH, CONNECT_TIMEOUT, describe
from .subscriptions import Subscriber

HEARTBEAT = 2.0  # seconds between pings
STALE_AFTER = 5.0  # nothing received for this long (a pong at least): the remote is stale
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
MAX_REMOTE_FRAME = 64 << 20  # a logs:data frame holds 1 MiB of text, JSON-escaped
MAX_LANES = 32  # viewers of one remote session through this server at once


@dataclass(eq=False)
class Proxied:
    """One local client's log subscription through a remote."""

    client: Subscriber
    name: str
    view: str
    offset: int | None  # where to (re)subscribe: just after the last data forwarded
    started: bool = False  # its first frame was forwarded: later initial frames continue it

    def subscribe_frame(self) -> dict[str, Any]:
        """The ``subscribe:logs`` frame that (re)starts it upstream."""
        frame: dict[str, Any] = {"type": "subscribe:logs", "sessionName": self.name}
        frame["view"] = self.view
        if self.offset is not None:
            frame["offset"] = self.offset
        return frame


class Lane:
    """One channel connection to a remote and the subscriptions it carries."""

    def __init__(self, remote: Remote, index: int) -> None:
        self.remote = remote
        self.index = index
        self.subscriptions: dict[str, Proxied] = {}
        self.connection: WebSocketClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start connecting (and reconnecting) on a task of its own.

        In a context of its own: started from a viewer's frame, the task (and tornado's, for
        its connection) would copy that viewer's, where Jupyter names the viewer's handler, and
        hold the handler for as long as the lane lives.
        """
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), context=contextvars.Context())

    def stop(self) -> None:
        """Close the connection and end the task."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def send(self, frame: dict[str, Any]) -> None:
        """Write a frame if connected, without waiting (a frozen remote holds nobody up)."""
        connection = self.connection
        if connection is None:
            return
        try:
            written = connection.write_message(json.dumps(frame))
        except WebSocketClosedError:
            return
        written.add_done_callback(lambda future: future.exception())  # closed: read loop sees it

    async def _run(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            link = Link(self)
            try:
                connection = await link.connect()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.remote.lane_failed(self, error)
                await asyncio.sleep(min(delay, BACKOFF_MAX) * random.uniform(0.8, 1.2))  # noqa: S311
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            delay = BACKOFF_FIRST
            self.connection = connection
            self.remote.lane_up(self)
            for subscription in list(self.subscriptions.values()):
                self.send(subscription.subscribe_frame())
            try:
                why = await link.watch(connection)
            finally:
                self.connection = None
                link.end()
            self.remote.lane_down(self, why)
            await asyncio.sleep(BACKOFF_FIRST * random.uniform(0.8, 1.2))  # noqa: S311


class Link:
    """One connection attempt of a lane: its frames handed to the remote as tornado reads them.

    tornado calls :meth:`on_message` for each frame, with no queue, task or timer per frame
    (``read_message`` in a loop with a heartbeat timeout cost a fifth of the front server's CPU
    relaying 4,000 frames/s); the heartbeat is a check every :data:`HEARTBEAT` seconds.
    """

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()  # when a frame last came
        self.ended: asyncio.Future[None] = self.loop.create_future()
        self.connection: WebSocketClientConnection | None = None

    async def connect(self) -> WebSocketClientConnection:
        """Connect, or raise why not; a connection completing after this gave up is closed."""
        spec = self.lane.remote.spec
        url = spec.url.replace("http", "ws", 1) + CHANNEL_PATH
        request = HTTPRequest(
            url,
            headers={"Authorization": f"token {self.lane.remote.token}"},
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=CONNECT_TIMEOUT,
            validate_cert=True,
        )
        connecting = asyncio.ensure_future(
            websocket_connect(
                request, on_message_callback=self.on_message, max_message_size=MAX_REMOTE_FRAME
            )
        )
        try:  # shielded: cancelled, tornado's future would drop a connection made later, open
            self.connection = await asyncio.wait_for(
                asyncio.shield(connecting), CONNECT_TIMEOUT + 1
            )
        except BaseException:
            self.end()
            connecting.add_done_callback(close_connected)
            raise
        self.last = self.loop.time()
        return self.connection

    def on_message(self, message: str | bytes | None) -> None:
        """A frame from the remote (``None``: the connection closed)."""
        if self.ended.done():
            return  # given up or replaced: what it still delivers is not this lane's
        if message is None:
            self.ended.set_result(None)
            return
        self.last = self.loop.time()
        self.lane.remote.received(self.lane, message)

    async def watch(self, connection: WebSocketClientConnection) -> str:
        """Ping every :data:`HEARTBEAT` s until the connection ends or falls silent; why it did."""
        while True:
            await asyncio.wait({self.ended}, timeout=HEARTBEAT)
            if self.ended.done():
                reason = connection.close_reason or "the connection closed"
                return f"{reason} (code {connection.close_code})"
            if self.loop.time() - self.last > STALE_AFTER:
                return f"no answer for {STALE_AFTER:.0f} s: frozen, overloaded or cut off?"
            self.lane.send({"type": "ping"})

    def end(self) -> None:
        """Close the connection; frames still on their way are dropped."""
        if not self.ended.done():
            self.ended.set_result(None)
        if self.connection is not None:
            self.connection.close()


def close_connected(connecting: asyncio.Future[WebSocketClientConnection]) -> None:
    """Close a connection that completed after its lane stopped waiting for it."""
    if not connecting.cancelled() and connecting.exception() is None:
        connecting.result().close()


class Remote:
    """One remote server: its lanes, its session list and its state as ``/status`` shows it."""

    def __init__(
        self,
        spec: RemoteSpec,
        changed: Callable[[bool], None],
        log: logging.Logger,
        stories: Callable[[Remote, dict[str, Any] | None], None] | None = None,
    ) -> None:
        self.spec = spec
        self.token = ""
        self.state = "error"
        self.since = time.time()
        self.error: str | None = "connecting: no answer yet"
        self.sessions: list[dict[str, Any]] = []
        self.total = 0
        self.lanes: list[Lane] = []
        self._changed = changed
        # Told of its stories: a stories:updated frame, or None when lane 0 (re)connects.
        self._stories = stories
        self.log = log

    @property
    def stale(self) -> bool:
        """Whether its sessions are as last seen, not live."""
        return self.state != "connected"

    def start(self, token: str) -> None:
        """Connect lane 0 with ``token``."""
        self.token = token
        self.lanes.append(Lane(self, 0))
        self.lanes[0].start()

    def stop(self) -> None:
        """Close every lane."""
        for lane in self.lanes:
            lane.stop()
        self.lanes.clear()

    def refuse(self, error: str) -> None:
        """Stay disconnected with ``error`` (a token that cannot be read)."""
        self._set_state("error", error)

    def status(self) -> dict[str, Any]:
        """What ``/api/saga/status`` says of it."""
        return {
            "name": self.spec.name,
            "url": self.spec.url,
            "state": self.state,
            "since": iso(self.since),
            "error": self.error,
            "sessions": len(self.sessions),
        }

    def _set_state(self, state: str, error: str | None) -> None:
        if state != self.state:
            self.since = time.time()
            level = logging.INFO if state == "connected" else logging.WARNING
            self.log.log(level, "saga_jupyter: remote %s %s: %s", self.spec.name, state, error)
        was_stale = self.stale
        self.state, self.error = state, error
        if was_stale != self.stale:
            self.sessions = [{**session, "stale": self.stale} for session in self.sessions]
            self._changed(True)

    def lane_up(self, lane: Lane) -> None:
        """A lane connected."""
        if lane.index == 0:
            self._set_state("connected", None)
            if self._stories is not None:
                self._stories(self, None)  # they may have changed while it was away

    def lane_down(self, lane: Lane, why: str) -> None:
        """A connected lane ended."""
        if lane.index == 0:
            self._set_state("stale", why)

    def lane_failed(self, lane: Lane, error: BaseException) -> None:
        """A lane could not connect: a timeout keeps it stale, anything else is an error."""
        if lane.index != 0:
            return
        why, lasting = describe(error, self.spec)
        self._set_state("error" if lasting or self.state == "error" else "stale", why)

    def received(self, lane: Lane, message: str | bytes) -> None:
        """One frame from the remote."""
        try:
            frame = json.loads(message)
        except (ValueError, RecursionError):  # a remote is trusted less than our own files
            return
        if not isinstance(frame, dict):
            return
        kind = frame.get("type")
        if kind == "sessions:updated" and lane.index == 0:
            sessions = frame.get("sessions")
            if isinstance(sessions, list):
                self.sessions = stamped(sessions, self.spec.name, self.stale)
                total = frame.get("total")
                self.total = total if isinstance(total, int) else len(self.sessions)
                self._changed(False)
        elif kind == "stories:updated" and lane.index == 0 and self._stories is not None:
            self._stories(self, frame)
        elif kind in ("logs:data", "logs:error"):
            subscription = lane.subscriptions.get(frame.get("sessionName"))  # type: ignore[arg-type]
            if subscription is not None:
                self._forward(lane, subscription, frame)

    def _forward(self, lane: Lane, subscription: Proxied, frame: dict[str, Any]) -> None:
        if frame["type"] == "logs:error" or frame.get("isComplete"):
            self._drop(lane, subscription)  # the remote ended it too
        if frame["type"] == "logs:data":
            if subscription.started and not frame.get("reset"):
                frame["isInitial"] = False  # a resume: the client's stream goes on
            subscription.started = True
            offset = frame.get("offset")
            if isinstance(offset, int):
                subscription.offset = offset
        frame["host"] = self.spec.name
        subscription.client.write_frame(json.dumps(frame).encode())

    def subscribe(self, subscription: Proxied) -> None:
        """Carry ``subscription`` on the first lane free for its session (a new one if none)."""
        name = subscription.name
        lane = next((lane for lane in self.lanes if name not in lane.subscriptions), None)
        if lane is None:
            if len(self.lanes) >= MAX_LANES:
                frame = {"type": "logs:error", "sessionName": name, "host": self.spec.name}
                frame["error"] = f"too many viewers of {name} through this server"
                subscription.client.write_frame(json.dumps(frame).encode())
                return
            lane = Lane(self, len(self.lanes))
            self.lanes.append(lane)
            lane.start()
        lane.subscriptions[subscription.name] = subscription
        lane.send(subscription.subscribe_frame())

    def unsubscribe(self, client: Subscriber, name: str) -> None:
        """End ``client``'s subscription to ``name`` here."""
        for lane in self.lanes:
            subscription = lane.subscriptions.get(name)
            if subscription is not None and subscription.client is client:
                lane.send({"type": "unsubscribe:logs", "sessionName": name})
                self._drop(lane, subscription)
                return

    def client_gone(self, client: Subscriber) -> None:
        """End every subscription of a closed client."""
        for lane in list(self.lanes):
            for subscription in list(lane.subscriptions.values()):
                if subscription.client is client:
                    lane.send({"type": "unsubscribe:logs", "sessionName": subscription.name})
                    self._drop(lane, subscription)

    def _drop(self, lane: Lane, subscription: Proxied) -> None:
        if lane.subscriptions.get(subscription.name) is subscription:
            del lane.subscriptions[subscription.name]
        # Extra lanes close once empty, from the last one (lane indexes stay dense).
        while len(self.lanes) > 1 and not self.lanes[-1].subscriptions:
            self.lanes.pop().stop()
