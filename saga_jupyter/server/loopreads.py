"""Log subscriptions read on the event loop: what a write announces, and raw backlogs.

What a write announces is read on the loop for every subscription with nothing under way, but
only if it is in memory (:meth:`~saga_jupyter.core.watch.tailer.Tailer.read_available`:
``RWF_NOWAIT``), which a line just written always is: a line costs the loop one wake-up and
no hand-over between threads. A raw backlog is read here too once its first turn is written,
a frame a loop turn (at most :data:`LOOP_READS` subscriptions' a turn), as long as its bytes
are in memory: a round (an executor job) a turn cost two hand-overs between threads, with the
GIL (0.24-1.6 s of a 200 MiB catch-up's 1.1-3.4 s, on a loaded machine). The rest goes to
:class:`~.logstreams.LogStreams`' rounds.
"""

from __future__ import annotations

import asyncio
import itertools

from ..core.watch.tailer import Chunk, Tailer
from .frames import json_escape
from .subscriptions import TURN_FRAMES, Encoded, Read, Subscription, view

# The most subscriptions one loop turn reads a frame for (each up to a frame, decoded and
# escaped: ~0.3 ms; those at one position share one read).
LOOP_READS = 8
# A read on the loop: who read, the chunk, and its data escaped for JSON (None: not exact).
LoopRead = tuple[Tailer, Chunk | None, bytes | None]


class LoopReads:
    """The reads :class:`~.logstreams.LogStreams` does on the loop (a base it builds on)."""

    catch_up: int  # a subscription further behind its file's end skips ahead, in a round
    _buffer: bytearray  # what the loop reads lands here
    _on_loop: dict[Subscription, None]  # busy, to read on the loop next, in order

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
        raise NotImplementedError

    def _read_in_round(self, subscription: Subscription) -> None:
        raise NotImplementedError

    def _turn_done(self, subscription: Subscription, more: bool = False) -> None:
        raise NotImplementedError

    def _read_here(self, subscriptions: list[Subscription], finishing: bool = True) -> None:
        """Read on the loop for busy subscriptions, what is in memory; the rest in a round.

        Subscribers at the same position (all that keep up) share one read and one frame.
        ``finishing``: a subscription to a completed session that read to the end gets its
        last frame (a write event leaves that to the round :meth:`sessions_updated` asks for).
        """
        reads: dict[tuple[object, ...], LoopRead | None] = {}
        encoded: Encoded = {}
        for subscription in subscriptions:
            tailer, mark = subscription.tailer, subscription.tailer.mark
            if mark in reads:
                read = reads[mark]
                if read is not None and not tailer.follow(read[0]):
                    read = None
            else:
                read = reads[mark] = self._read_available(tailer)
            if read is None:
                self._read_in_round(subscription)
                continue
            _, chunk, data = read
            if subscription.transcript is not None:
                chunk, data = view(subscription.transcript, chunk), None
            more = chunk is not None and chunk.more
            if more and subscription.frames < TURN_FRAMES - 1 and self._reads_on_loop(subscription):
                # A frame the turn writes on its way, as a round's turn does: read on.
                if self._send(subscription, chunk, False, encoded, data=data, last=False):
                    subscription.frames += 1
                    self._read_on_loop(subscription)
                continue
            completed = finishing and subscription.stream.completed
            self._send(subscription, chunk, completed, encoded, data=data)

    def _read_available(self, tailer: Tailer) -> LoopRead | None:
        """Read what is in memory, its data escaped for JSON; ``None``: only a round can read."""
        try:
            chunk = tailer.read_available(self._buffer)
        except OSError:  # not in memory, or only a full read can tell
            return None
        raw = tailer.take_raw()
        return tailer, chunk, None if raw is None else json_escape(raw)

    def _reads_on_loop(self, subscription: Subscription) -> bool:
        """Whether a backlog's next frame can be read on the loop, rather than in a round.

        Not when the file changed meanwhile (it may have been replaced), a transcript is
        rendered, or the reader is so far behind that it skips ahead.
        """
        return (
            subscription.active
            and not subscription.dirty
            and subscription.transcript is None
            and subscription.tailer.behind() <= self.catch_up
        )

    def _read_on_loop(self, subscription: Subscription) -> None:
        """Read a subscription's next frame on the loop, in turn with the others due there."""
        self._on_loop[subscription] = None
        if len(self._on_loop) == 1:
            asyncio.get_running_loop().call_soon(self._read_on)

    def _read_on(self) -> None:
        """Read the next frame of the backlogs due on the loop (see :meth:`_turn_done`).

        At most :data:`LOOP_READS` of them a loop turn: the rest wait for the next.
        """
        due = list(itertools.islice(self._on_loop, LOOP_READS))
        for subscription in due:
            del self._on_loop[subscription]
        if self._on_loop:
            asyncio.get_running_loop().call_soon(self._read_on)
        for subscription in due:
            if not subscription.active:  # released meanwhile: its turn ends here
                self._turn_done(subscription)
        self._read_here([subscription for subscription in due if subscription.active])
