"""Log streams: every session's output, tail -f style, to every subscriber of the channel.

All subscriptions share the extension's one directory watch, dispatched here by file name. Each
subscription has its own :class:`~saga_jupyter.core.tailer.Tailer` (its own byte position), so
one client's pace never moves another's. Nothing is queued per client beyond the frame being
written: the file itself is the buffer. A subscription reads only after its previous frame was
written, so a client that stops reading costs one frame of memory per session and lags behind
in the file; it catches up (or resumes by offset after reconnecting) without losing a byte.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..core.dirwatch import DirectoryWatch
from ..core.errors import InvalidSessionName
from ..core.names import OUTPUT_SUFFIX, output_path, parse_name
from ..core.tailer import MAX_CHAR_BYTES, Chunk, Tailer

# The most one logs:data frame carries; a larger backlog follows in further frames.
MAX_FRAME_BYTES = 1 << 20


class Subscriber(Protocol):
    """What a log stream needs of a channel client."""

    async def send_frame(self, frame: dict[str, Any]) -> bool:
        """Write one frame; ``False`` when the client is gone."""


@dataclass(eq=False)
class Subscription:
    """One client following one session's output."""

    client: Subscriber
    name: str
    tailer: Tailer
    pump: asyncio.Future[None] | None = None
    dirty: bool = False
    started: bool = False
    active: bool = True


@dataclass(eq=False)
class Stream:
    """Every subscription to one session: the unit ``logStreams`` counts."""

    name: str
    subscriptions: dict[Subscriber, Subscription] = field(default_factory=dict)
    completed: bool = False


class LogStreams:
    """The log streams of one extension."""

    def __init__(
        self,
        output_dir: str | Path,
        watch: DirectoryWatch,
        initial_log_bytes: int,
        is_completed: Callable[[str], bool | None],
        log: logging.Logger,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.watch = watch
        self.initial_log_bytes = initial_log_bytes
        # The initial frame holds at most initial_log_bytes, what was appended since included.
        self.first_frame_bytes = max(initial_log_bytes, MAX_CHAR_BYTES)
        self.is_completed = is_completed
        self.log = log
        self.streams: dict[str, Stream] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: set[str] = set()
        self._changed_lock = threading.Lock()
        # Writes are watched only while some log is streamed.
        watch.wants_writes = lambda: bool(self.streams)

    def __len__(self) -> int:
        return len(self.streams)

    def start(self) -> None:
        """Listen to the directory watch (the caller starts the watch itself)."""
        self._loop = asyncio.get_running_loop()
        self.watch.add_listener(self._on_file_event)

    def stop(self) -> None:
        """End every subscription."""
        self.watch.remove_listener(self._on_file_event)
        for stream in list(self.streams.values()):
            for subscription in list(stream.subscriptions.values()):
                self._release(subscription)
        self._loop = None

    async def subscribe(self, client: Subscriber, name: Any, offset: Any = None) -> None:
        """Start streaming ``name`` to ``client``: the initial frame, then every appended byte."""
        error = self._refusal(name, offset)
        if error is not None:
            await client.send_frame(_error(name, error))
            return
        path = output_path(self.output_dir, name)
        if offset is None:
            tailer = await asyncio.to_thread(Tailer.from_tail, path, self.initial_log_bytes)
        else:
            tailer = await asyncio.to_thread(Tailer, path, offset)
        if tailer.missing:
            tailer.close()
            await client.send_frame(_error(name, f"no output file for {name} yet"))
            return
        self.unsubscribe(client, name)  # subscribing again restarts from the new offset
        stream = self.streams.get(name)
        if stream is None:
            stream = self.streams[name] = Stream(name)
            self.log.info("saga_jupyter: log watch opened: %s", name)
            if len(self.streams) == 1:
                await asyncio.to_thread(self.watch.ensure)  # before the first read: no gap
        stream.completed = stream.completed or bool(self.is_completed(name))
        subscription = Subscription(client, name, tailer)
        stream.subscriptions[client] = subscription
        self._poke(subscription)

    def _refusal(self, name: Any, offset: Any) -> str | None:
        try:
            parse_name(name)
        except InvalidSessionName as error:
            return str(error)
        if offset is not None and (type(offset) is not int or offset < 0):
            return "offset must be a non-negative integer"
        if self.is_completed(name) is None:
            return f"no SAGA session named {name}"
        return None

    def unsubscribe(self, client: Subscriber, name: Any) -> None:
        """Stop streaming ``name`` to ``client`` (nothing happens if it was not subscribed)."""
        stream = self.streams.get(name) if isinstance(name, str) else None
        subscription = stream.subscriptions.get(client) if stream else None
        if subscription is not None:
            self._release(subscription)

    def client_gone(self, client: Subscriber) -> None:
        """Release every subscription of a disconnected client."""
        for stream in list(self.streams.values()):
            self.unsubscribe(client, stream.name)

    def sessions_updated(self, sessions: list[dict[str, Any]]) -> None:
        """Finish the streams of sessions that completed: remaining bytes, then ``isComplete``."""
        for stream in list(self.streams.values()):
            # Not listed any more counts as completed too.
            if not stream.completed and self.is_completed(stream.name) is not False:
                stream.completed = True
                for subscription in stream.subscriptions.values():
                    self._poke(subscription)

    def _on_file_event(self, filename: str, event_type: str) -> None:
        # On the observer's thread: only names cross over, and the loop is woken once for all
        # the events that arrive before it gets to them (thousands a second with busy writers).
        loop = self._loop
        if loop is None:
            return
        # Streams are keyed by names checked at subscribe: no need to validate every write's.
        name = filename.removesuffix(OUTPUT_SUFFIX)
        if name != filename and name in self.streams:
            with self._changed_lock:
                wake = not self._changed
                self._changed.add(name)
            if wake:
                loop.call_soon_threadsafe(self._files_changed)

    def _files_changed(self) -> None:
        with self._changed_lock:
            names, self._changed = self._changed, set()
        for name in names:
            stream = self.streams.get(name)
            if stream is not None:
                for subscription in stream.subscriptions.values():
                    self._poke(subscription)

    def _poke(self, subscription: Subscription) -> None:
        # A pump under way reads once more when it is done: a final read after the last event.
        subscription.dirty = True
        if subscription.pump is None or subscription.pump.done():
            stream = self.streams.get(subscription.name)
            if stream is not None:
                subscription.pump = asyncio.ensure_future(self._pump(stream, subscription))

    async def _pump(self, stream: Stream, subscription: Subscription) -> None:
        """Read and send until caught up; one frame in flight per subscription, never more."""
        try:
            while subscription.dirty and subscription.active:
                subscription.dirty = False
                completed = stream.completed
                limit = MAX_FRAME_BYTES if subscription.started else self.first_frame_bytes
                chunk = await asyncio.to_thread(subscription.tailer.read, limit)
                more = chunk is not None and chunk.more
                finished = completed and not more
                if not subscription.active:
                    break
                if chunk is not None or not subscription.started or finished:
                    frame = _data(stream.name, chunk, subscription, finished)
                    subscription.started = True
                    finished = not await subscription.client.send_frame(frame) or finished
                if finished:
                    self._release(subscription)
                subscription.dirty = subscription.dirty or more
        except Exception:
            self.log.exception("saga_jupyter: log stream of %s failed", stream.name)
            self._release(subscription)
        finally:
            if not subscription.active:
                subscription.tailer.close()

    def _release(self, subscription: Subscription) -> None:
        """Take a subscription out; its tailer closes once no read of it is under way."""
        if not subscription.active:
            return
        subscription.active = False
        stream = self.streams.get(subscription.name)
        if stream is not None and stream.subscriptions.get(subscription.client) is subscription:
            del stream.subscriptions[subscription.client]
            if not stream.subscriptions:
                del self.streams[stream.name]
                self.log.info("saga_jupyter: log watch closed: %s", stream.name)
                if not self.streams and self._loop is not None:
                    self._loop.run_in_executor(None, self.watch.ensure)  # stop watching writes
        if subscription.pump is None or subscription.pump.done():
            subscription.tailer.close()


def _data(
    name: str, chunk: Chunk | None, subscription: Subscription, complete: bool
) -> dict[str, Any]:
    return {
        "type": "logs:data",
        "sessionName": name,
        "data": chunk.data if chunk else "",
        "isInitial": not subscription.started,
        "isComplete": complete,
        "offset": chunk.offset if chunk else subscription.tailer.offset,
        "reset": chunk.reset if chunk else False,
    }


def _error(name: Any, error: str) -> dict[str, Any]:
    session_name = name[:200] if isinstance(name, str) else None
    return {"type": "logs:error", "sessionName": session_name, "error": error}
