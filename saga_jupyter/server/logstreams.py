"""Log streams: every session's output, tail -f style, to every subscriber of the channel.

All subscriptions share the extension's one directory watch, dispatched here by file name. Each
subscription has its own :class:`~saga_jupyter.core.watch.tailer.Tailer` (its own byte position), so
one client's pace never moves another's. Those at one position, as all that keep up are, share
one read (:meth:`~saga_jupyter.core.watch.tailer.Tailer.follow`) and one encoded frame: with twenty
viewers of a session, a write costs one read, one decode, one JSON encoding and twenty sends.
Nothing is queued per client beyond the turn being written (a frame, or a backlog's frames of
up to :data:`TURN_BYTES`): the file itself is the buffer. A subscription reads only after its
previous turn was written, so a client that stops reading
costs one turn of memory per session and lags behind in the file; it catches up without losing
a byte. Subscribed to many sessions, it is closed once the channel's ``max_unsent_bytes`` wait
for it, and resumes by offset after reconnecting.

A subscription to a today's worker's messages may ask for ``"view": "transcript"``: its frames
then hold the complete lines read so far rendered by the one transcript renderer
(:mod:`~saga_jupyter.core.saga.transcript`), and ``offset`` is the byte offset after the last
line rendered, so a client resumes there as from a raw stream. Rounds render in the executor
with their reads; what the loop reads for a write (a line or a few) it renders itself.

Nothing here waits for a disk on the event loop. The directory watch reads its events on the
loop, and what a write announces is read right there, for every subscription with nothing under
way, but only if it is in memory (:meth:`~saga_jupyter.core.watch.tailer.Tailer.read_available`:
``RWF_NOWAIT``), which a line just written always is. So a line costs the loop one wake-up and
no hand-over between threads: on a loaded machine the hand-overs cost more than all the work
(the bench's p50: 0.9-3.7 ms with reads on the watch's thread, 0.3 ms here). A raw backlog
is read on the loop too once its first turn is written, while its bytes are in memory
(:mod:`.loopreads`). Every other read (bytes not in memory, a filesystem that cannot say, a
file created, renamed or deleted, the initial window, a backlog's first turn or one rendered
as a transcript, the file changed while a frame was on its way, completion) goes through the
executor, in rounds: one job reads every subscription that is due, and one round runs at a
time.

A subscription more than :attr:`LogStreams.catch_up` bytes behind (``truncate -s 1T``) skips
in its round to the file's last ``initial_log_bytes``, cut at a line start, as the kernel's
follower does (:meth:`~saga_jupyter.core.watch.tailer.Tailer.catch_up`): that frame's data
starts with :func:`~saga_jupyter.core.watch.tailer.skip_notice`, its ``skipped`` says how many
bytes were left out, and its ``offset`` stays the true byte offset to resume from.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core.errors import InvalidRequest, InvalidSessionName
from ..core.info import SessionInfo
from ..core.inputs import check_number
from ..core.saga.names import OUTPUT_SUFFIXES, output_format, output_path, parse_name
from ..core.saga.transcript import Transcript
from ..core.watch.dirwatch import MEMBERSHIP_EVENTS, OVERFLOW, DirectoryWatch
from ..core.watch.follower import has_ended
from ..core.watch.tailer import MAX_CHAR_BYTES, Tailer, skip_notice
from .frames import encode_frame
from .loopreads import LoopReads
from .subscriptions import (
    MAX_FRAME_BYTES,
    TURN_BYTES,
    VIEWS,
    Encoded,
    Read,
    Stream,
    Subscriber,
    Subscription,
    data_frame,
    error_frame,
    read_all,
)

# Further behind the file's end than this (or 4 initial windows, if more): skip to its tail.
# 64 MiB is far more than a log tab shows; a viewer less far behind reads every byte.
CATCH_UP_BYTES = 64 << 20


class LogStreams(LoopReads):
    """The log streams of one extension."""

    def __init__(
        self,
        output_dir: str | Path,
        watch: DirectoryWatch,
        initial_log_bytes: int,
        find: Callable[[str], SessionInfo | None],
        log: logging.Logger,
        catch_up_bytes: int = CATCH_UP_BYTES,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.watch = watch
        self.initial_log_bytes = initial_log_bytes
        # The initial frame holds at most initial_log_bytes, what was appended since included.
        self.first_frame_bytes = max(initial_log_bytes, MAX_CHAR_BYTES)
        #: A subscription further behind its file's end than this skips to its tail.
        self.catch_up = max(catch_up_bytes, 4 * initial_log_bytes)
        self.find = find  # the session listed under a name, or None
        self.log = log
        self.streams: dict[str, Stream] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray(MAX_FRAME_BYTES)  # what the loop reads lands here
        self._due: dict[Subscription, None] = {}  # busy, to read in the next round, in order
        self._on_loop: dict[Subscription, None] = {}  # busy, to read on the loop next, in order
        self._rounds: asyncio.Future[None] | None = None
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

    async def subscribe(
        self, client: Subscriber, name: Any, offset: Any = None, view: Any = "raw"
    ) -> None:
        """Start streaming ``name`` to ``client``: the initial frame, then every appended byte.

        ``view``: ``"raw"`` (the bytes) or ``"transcript"`` (a messages session rendered; for
        a terminal session both are the bytes).
        """
        error = self._refusal(name, offset, view)
        if error is not None:
            await client.send_frame(error_frame(name, error))
            return
        path = output_path(self.output_dir, name)
        if offset is None:
            tailer = await asyncio.to_thread(Tailer.from_tail, path, self.initial_log_bytes)
        else:
            tailer = await asyncio.to_thread(Tailer, path, offset)
        if tailer.missing:
            tailer.close()
            await client.send_frame(error_frame(name, f"no output file for {name} yet"))
            return
        self.unsubscribe(client, name)  # subscribing again restarts from the new offset
        stream = self.streams.get(name)
        if stream is None:
            stream = self.streams[name] = Stream(name)
            self.log.info("saga_jupyter: log watch opened: %s", name)
            if len(self.streams) == 1:
                await asyncio.to_thread(self.watch.ensure)  # before the first read: no gap
        stream.completed = stream.completed or has_ended(self.find(name))
        subscription = Subscription(client, stream, tailer)
        if view == "transcript" and output_format(name) == "messages":
            subscription.transcript = Transcript(tailer.offset)
        stream.subscriptions[client] = subscription
        self._read_in_round(subscription)

    def _refusal(self, name: Any, offset: Any, view: Any) -> str | None:
        if view not in VIEWS:
            return f"view must be 'raw' or 'transcript', not {str(view)[:40]!r}"
        try:
            parse_name(name)
            if offset is not None:
                check_number(offset, "offset")
        except (InvalidSessionName, InvalidRequest) as error:
            return str(error)
        if self.find(name) is None:
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

    def sessions_updated(self, update: Mapping[str, SessionInfo]) -> None:
        """Finish the streams of sessions that completed: remaining bytes, then ``isComplete``.

        ``update``: the sessions listed now, by name (not listed any more counts as completed).
        """
        for stream in list(self.streams.values()):
            if not stream.completed and has_ended(update.get(stream.name)):
                stream.completed = True
                for subscription in stream.subscriptions.values():
                    self._read_soon(subscription)

    def _on_file_event(self, filename: str, event_type: str) -> None:
        # On the loop. Streams are keyed by names checked at subscribe: no need to validate
        # every write's.
        if event_type == OVERFLOW:
            self._read_all_soon()
            return
        name = filename.rpartition(".")[0]
        stream = self.streams.get(name)
        if stream is None or not filename.endswith(OUTPUT_SUFFIXES[output_format(name)]):
            return
        claimed = [s for s in list(stream.subscriptions.values()) if self._claim(s)]
        if event_type in MEMBERSHIP_EVENTS:  # the path may name another file now
            for subscription in claimed:
                self._read_in_round(subscription)
        else:
            self._read_here(claimed, finishing=False)

    def _read_all_soon(self) -> None:
        """Events were lost: any file may have changed, read each again (in a round)."""
        for stream in list(self.streams.values()):
            for subscription in list(stream.subscriptions.values()):
                self._read_soon(subscription)

    def _claim(self, subscription: Subscription) -> bool:
        """Take a turn if nothing is under way; otherwise ask the owner to read once more."""
        if not subscription.active:
            return False
        if subscription.busy:
            subscription.dirty = True
            return False
        subscription.busy = True
        return True

    def _read_soon(self, subscription: Subscription) -> None:
        """Read for a subscription in a round, or once its turn under way is done."""
        if self._claim(subscription):
            self._read_in_round(subscription)

    def _read_in_round(self, subscription: Subscription) -> None:
        self._due[subscription] = None
        if self._rounds is None or self._rounds.done():
            self._rounds = asyncio.ensure_future(self._read_rounds())

    async def _read_rounds(self) -> None:
        """Read every due subscription in one executor job, send, and again while any is due."""
        while self._due:
            batch = list(self._due)
            self._due.clear()
            jobs = [
                (s.tailer, *self._read_limits(s), s.stream.completed, s.transcript) for s in batch
            ]
            try:
                results = await asyncio.to_thread(
                    read_all, jobs, self.catch_up, self.initial_log_bytes
                )
            except Exception as error:  # the executor shuts down: each subscription ends
                results = [(error, False, 0)] * len(batch)
            encoded: Encoded = {}
            for subscription, (pieces, completed, skipped) in zip(batch, results, strict=True):
                if isinstance(pieces, Exception):
                    self._send(subscription, pieces, completed, encoded)
                    continue
                *first, (chunk, data) = pieces
                for before, escaped in first:  # whole frames the turn writes on its way
                    if not self._send(
                        subscription, before, False, encoded, skipped, escaped, False
                    ):
                        break
                    skipped = 0
                else:
                    self._send(subscription, chunk, completed, encoded, skipped, data)

    def _read_limits(self, subscription: Subscription) -> tuple[int, int]:
        """The most a frame of the next turn holds, and the turn in all."""
        if subscription.started:
            return MAX_FRAME_BYTES, TURN_BYTES
        return self.first_frame_bytes, self.first_frame_bytes

    def _send(
        self,
        subscription: Subscription,
        chunk: Read,
        completed: bool,
        encoded: Encoded,
        skipped: int = 0,
        data: bytes | None = None,
        last: bool = True,
    ) -> bool:
        """End a turn's read: write its chunk as a frame, or finish; then end the turn.

        ``encoded``: the frames of this event or round so far, by what they hold. ``skipped``:
        bytes the read skipped to catch up, announced in the frame. ``data``: the chunk's data
        already escaped for JSON (:func:`~.frames.json_escape`), or ``None``. ``last``: false
        for a frame a turn writes before its last (the turn goes on); then returns whether the
        subscription still takes frames.
        """
        if isinstance(chunk, Exception):
            name = subscription.stream.name
            self.log.error("saga_jupyter: log stream of %s failed", name, exc_info=chunk)
            self._release(subscription)
            self._turn_done(subscription)
            return False
        more = chunk is not None and chunk.more
        finished = completed and not more
        quiet = chunk is None and subscription.started and not finished and not skipped
        if not subscription.active or quiet:
            self._turn_done(subscription)
            return False
        frame = data_frame(subscription.stream.name, chunk, subscription, finished)
        if skipped:
            frame["data"] = skip_notice(skipped) + frame["data"]
            frame["skipped"] = skipped
        subscription.started = True
        key = (id(chunk), skipped, *(value for name, value in frame.items() if name != "data"))
        known = encoded.get(key)
        if known is None:
            payload = encode_frame(frame, None if skipped else data)
            encoded[key] = (chunk, payload)  # the chunk kept: its id is not reused meanwhile
        else:
            payload = known[1]
        written = subscription.client.write_frame(payload)
        if written is None:
            self._release(subscription)
            self._turn_done(subscription)
            return False
        if not last:
            return True

        def sent(future: asyncio.Future[Any]) -> None:
            if future.cancelled() or future.exception() is not None or finished:
                self._release(subscription)
            self._turn_done(subscription, more)

        if written.done():
            sent(written)
        else:
            written.add_done_callback(sent)
        return True

    def _turn_done(self, subscription: Subscription, more: bool = False) -> None:
        """Give the tailer up, or read on: the rest of a backlog, or what changed meanwhile.

        A raw backlog is read on here, a frame a loop turn (:meth:`_read_on`), as long as its
        bytes are in memory: a round for each turn cost a hand-over to the executor and back,
        the GIL passed between the threads (0.24-1.6 s of a 200 MiB catch-up's 1.1-3.4 s).
        """
        subscription.frames = 0
        if more and self._reads_on_loop(subscription):
            self._read_on_loop(subscription)
            return
        again = subscription.active and (more or subscription.dirty)
        subscription.busy = again
        subscription.dirty = False
        if again:
            self._read_in_round(subscription)
        elif not subscription.active:
            subscription.tailer.close()

    def _release(self, subscription: Subscription) -> None:
        """Take a subscription out; its tailer closes once its turn under way is done."""
        if not subscription.active:
            return
        subscription.active = False
        idle = not subscription.busy
        if subscription in self._due:  # a round will not read it now: its turn ends here
            del self._due[subscription]
            idle = True
        stream = subscription.stream
        if stream.subscriptions.get(subscription.client) is subscription:
            del stream.subscriptions[subscription.client]
            if not stream.subscriptions and self.streams.get(stream.name) is stream:
                del self.streams[stream.name]
                self.log.info("saga_jupyter: log watch closed: %s", stream.name)
                if not self.streams and self._loop is not None:
                    self._loop.run_in_executor(None, self.watch.ensure)  # stop watching writes
        if idle:
            subscription.tailer.close()
