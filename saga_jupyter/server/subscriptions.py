"""One log subscription, what one round of its reads does off the loop, and its frames.

A :class:`Subscription` is one client following one session from its own byte position (its
own :class:`~saga_jupyter.core.watch.tailer.Tailer`); :func:`read_all` is a round's reads in the
executor (shared by position, a far-behind reader skipped ahead, the transcript view rendered
there too); :func:`data_frame` and :func:`error_frame` are what a client is sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..core.saga.transcript import Transcript
from ..core.watch.tailer import Chunk, Tailer
from .frames import json_escape

VIEWS = ("raw", "transcript")
# The most one logs:data frame carries; a larger backlog follows in further frames. A turn of a
# subscription writes up to TURN_BYTES of them: each frame's bytes stay in the CPU's cache (a
# 200 MiB catch-up in frames of 1 MiB cost 1.7 times the CPU; of 256 KiB, twice that of 128),
# while what waits for a client that stopped reading is still one turn per subscription.
MAX_FRAME_BYTES = 128 << 10
TURN_BYTES = 1 << 20
TURN_FRAMES = TURN_BYTES // MAX_FRAME_BYTES

# What one read gives: new text, nothing new, or the error it raised.
Read = Chunk | Exception | None
# A chunk read (None: nothing new) and its data escaped for JSON (None: not done here; when
# done, the chunk's own data is left empty).
Piece = tuple[Chunk | None, bytes | None]
# What one turn's read gives (its frames' chunks, or the error it raised), whether the session
# had completed before it began, and the bytes skipped to catch up first.
ReadResult = tuple[list[Piece] | Exception, bool, int]
# Frames already encoded for an event or a round: by their chunk's identity and their other
# values (hashing a megabyte of data cost 8 % of a catch-up), with the chunk kept alive.
Encoded = dict[tuple[Any, ...], tuple[object, bytes]]


class Subscriber(Protocol):
    """What a log stream needs of a channel client."""

    async def send_frame(self, frame: dict[str, Any]) -> bool:
        """Write one frame; ``False`` when the client is gone."""

    def write_frame(self, frame: bytes) -> asyncio.Future[Any] | None:
        """Start writing a frame's UTF-8 JSON: done once the socket took it; ``None`` if closed."""


@dataclass(eq=False)
class Stream:
    """Every subscription to one session: the unit ``logStreams`` counts."""

    name: str
    subscriptions: dict[Subscriber, Subscription] = field(default_factory=dict)
    completed: bool = False


@dataclass(eq=False)
class Subscription:
    """One client following one session's output."""

    client: Subscriber
    stream: Stream
    tailer: Tailer
    transcript: Transcript | None = None  # the transcript view of a messages session
    # A read or a frame of this subscription is under way: whoever set it owns the tailer
    # (a round or a frame being written) until its turn is done.
    busy: bool = True  # from the start: the initial read is the first turn
    dirty: bool = False  # the file changed while busy: read once more
    frames: int = 0  # frames written so far in a turn read on the loop, a frame a loop turn
    started: bool = False
    active: bool = True


def read_all(
    jobs: list[tuple[Tailer, int, int, bool, Transcript | None]], catch_up: int, window: int
) -> list[ReadResult]:
    """One round's reads, run in the executor; one failing read does not stop the others.

    Each job reads frames of at most its ``limit`` bytes while more wait, ``turn`` bytes in
    all. Readers of one file at one position (viewers catching up together) share one read,
    one skip ahead (``catch_up``, ``window``: see :meth:`Tailer.catch_up`), and one escaping of
    the data for JSON; each transcript view renders it here too, off the loop.
    """
    results: list[ReadResult] = []
    reads: dict[tuple[object, ...], tuple[Tailer, list[Piece], int]] = {}
    for tailer, limit, turn, completed, transcript in jobs:
        key = (tailer.mark, limit, turn, transcript is None)
        read = reads.get(key)
        if read is None or not tailer.follow(read[0]):
            try:
                skipped = tailer.catch_up(catch_up, window)
                escape = transcript is None  # a transcript renders the text instead
                pieces = read_pieces(tailer, limit, turn, escape, first=not skipped)
            except Exception as error:  # logged on the loop
                results.append((error, completed, 0))
                continue
            read = reads[key] = (tailer, pieces, skipped)
        _, pieces, skipped = read
        if transcript is not None:
            rendered: list[Piece] = [
                (view(transcript, c, skipped if i == 0 else 0), None)
                for i, (c, _) in enumerate(pieces)
            ]
            pieces = [piece for piece in rendered[:-1] if piece[0] is not None] + rendered[-1:]
        results.append((pieces, completed, skipped))
    return results


def read_pieces(
    tailer: Tailer, limit: int, turn: int, escape: bool, first: bool = True
) -> list[Piece]:
    """Chunks of at most ``limit`` bytes while more wait, ``turn`` in all.

    Never empty: ``[(None, None)]`` when nothing is new. ``escape``: each chunk's data escaped
    for JSON where the bytes allow, the text then left out (only its bytes are sent; keeping a
    turn's text too cost page faults); ``first``: the first chunk's too (not when a notice goes
    before it).
    """
    pieces: list[Piece] = []
    taken = 0
    while True:
        chunk = tailer.read(limit)
        raw = tailer.take_raw()
        if chunk is None or not escape or not (first or pieces):
            raw = None
        if raw is not None and chunk is not None:
            pieces.append((chunk._replace(data=""), json_escape(raw)))
        else:
            pieces.append((chunk, None))
        taken += limit
        if chunk is None or not chunk.more or taken + limit > turn:
            return pieces


def view(transcript: Transcript | None, chunk: Chunk | None, skipped: int = 0) -> Chunk | None:
    """What a subscription is sent of a chunk: itself, or its complete lines rendered.

    After a reset or a skip ahead (both start at a line start) nothing held counts any more.
    """
    if transcript is None or chunk is None:
        return chunk
    if chunk.reset or skipped:
        transcript.reset(0)
    rendered = transcript.feed(chunk.data, chunk.offset)
    if not rendered.text and not chunk.reset and not chunk.more:
        return None  # only part of a line so far: nothing to send yet
    return chunk._replace(data=rendered.text, offset=rendered.offset)


def data_frame(
    name: str, chunk: Chunk | None, subscription: Subscription, complete: bool
) -> dict[str, Any]:
    """A ``logs:data`` frame of ``chunk`` (``None``: nothing new) for ``subscription``."""
    return {
        "type": "logs:data",
        "sessionName": name,
        "data": chunk.data if chunk else "",
        "isInitial": not subscription.started,
        "isComplete": complete,
        "offset": chunk.offset if chunk else position(subscription),
        "reset": chunk.reset if chunk else False,
    }


def position(subscription: Subscription) -> int:
    """Where a subscription stands in its file: after the last line its transcript rendered."""
    transcript = subscription.transcript
    return transcript.offset if transcript is not None else subscription.tailer.offset


def error_frame(name: Any, error: str) -> dict[str, Any]:
    """A ``logs:error`` frame about ``name`` (cut short: it may be anything a client sent)."""
    session_name = name[:200] if isinstance(name, str) else None
    return {"type": "logs:error", "sessionName": session_name, "error": error}
