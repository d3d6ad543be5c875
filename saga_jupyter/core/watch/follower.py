"""The one log follower: a session's output from an offset, read when its file is written.

A :class:`Follower` belongs to an engine (:mod:`.engine`), whose thread calls :meth:`pump`
when the file was written (the directory watch), at least every :data:`BACKSTOP` seconds (an
event can be lost), and when the session ended (or runs again), to read what is left. It never
reads more often than ``min_interval`` (a view that repaints at most so often). The
:class:`~saga_jupyter.core.watch.tailer.Tailer` underneath sees truncations and rotations.

With ``view="transcript"``, a today's worker's messages (``.jsonl``) are handed on rendered
(:mod:`.saga.transcript`: complete lines only, each chunk's ``offset`` just after the last line
rendered); a terminal session's bytes are the same in either view.

The server's log streams share the tailer and :func:`has_ended`, and keep their own fast path
on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ..info import SessionInfo
from ..saga.names import output_format
from ..saga.transcript import Transcript
from .tailer import Chunk, Tailer

BACKSTOP = 1.0  # seconds: a follower reads at least this often
VIEWS = ("raw", "transcript")  # the file's text as written; a v4 worker's messages rendered


def has_ended(info: SessionInfo | None) -> bool:
    """The completion rule: completed, or not listed any more (its file and tmux session gone)."""
    return info is None or info.status == "completed"


class Follower:
    """Follows one output file for one reader, on its engine's thread.

    ``on_chunk(chunk)`` gets the text as it is read (``chunk.reset``: the file was truncated
    or replaced and the text starts again at byte 0; an empty reset chunk at a non-zero
    ``offset``: the follower skipped ahead to there, see ``catch_up``); ``on_flush()`` follows
    each read's chunks (then :attr:`complete` says whether the session has ended and all it
    wrote was read). With ``ends``, the follower stops once complete, after one ``on_end()``;
    without, it follows on (a view of a file that may still change, or a session run again).
    ``catch_up``: when more than this many bytes wait, skip to the file's last ``window``
    bytes instead of reading them all. ``view``: ``"raw"`` or ``"transcript"`` (see the module).
    """

    def __init__(
        self,
        name: str,
        path: Path,
        offset: int | None,
        *,
        on_chunk: Callable[[Chunk], None],
        on_flush: Callable[[], None] = lambda: None,
        on_end: Callable[[], None] = lambda: None,
        window: int = 0,
        min_interval: float = 0.0,
        catch_up: int | None = None,
        ends: bool = True,
        view: str = "raw",
    ) -> None:
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}: {view!r}")
        self.name = name
        self.path = path
        self.filename = path.name
        self.on_chunk, self.on_flush, self.on_end = on_chunk, on_flush, on_end
        self.window = window
        self.min_interval = min_interval
        self.catch_up = catch_up
        self.ends = ends
        self.tailer = Tailer(path, offset) if offset is not None else Tailer.from_tail(path, window)
        #: Whether the chunks are a transcript (a v4 session's, asked for) rather than the text.
        self.transcribing = view == "transcript" and output_format(name) == "messages"
        if self.transcribing:
            self.on_chunk = _transcribing(on_chunk, Transcript(self.tailer.offset))
        #: Set by the engine: written since the last read / the session has ended (as of
        #: the last scan).
        self.written = True
        self.ended = False
        #: Whether the session has ended and all it wrote was read (as of the last read).
        self.complete = False
        self.closed = False
        self.read_at = 0.0
        #: Set by the engine that reads for it: forgets it (see :meth:`close`).
        self.forget: Callable[[Follower], None] = lambda follower: follower.tailer.close()

    @property
    def missing(self) -> bool:
        """Whether there is no output file (yet, or any more)."""
        return self.tailer.missing

    def due(self) -> float:
        """When it should read next (a ``time.monotonic()``; now or earlier: now)."""
        if self.written or self.ended != self.complete:
            return self.read_at + self.min_interval
        return self.read_at + BACKSTOP

    def pump(self) -> None:
        """Read what was written (on the engine's thread); end after the last read if ended."""
        self.written = False
        self.read_at = time.monotonic()
        ended = self.ended  # before reading: what was written before the end is read now
        while not self.closed:
            if self.catch_up is not None and self.tailer.pending:
                self._catch_up()
            chunk = self.tailer.read()
            if chunk is None:
                break
            self.on_chunk(chunk)
            if not chunk.more:
                break
        if self.closed:
            return
        self.complete = ended and not self.tailer.pending
        self.on_flush()
        if self.complete and self.ends:
            self.closed = True  # the engine forgets it after this read
            self.on_end()

    def close(self) -> None:
        """Stop: no callback after the one under way; the file is released."""
        self.closed = True
        self.forget(self)

    def _catch_up(self) -> None:
        # A burst larger than anything shown (a file copied in, say) would cost seconds to
        # render for lines dropped at once: start again from the file's tail.
        assert self.catch_up is not None
        if self.tailer.catch_up(self.catch_up, self.window):  # logged by the tailer
            self.on_chunk(Chunk("", self.tailer.offset, reset=True))


def _transcribing(
    on_chunk: Callable[[Chunk], None], transcript: Transcript
) -> Callable[[Chunk], None]:
    """``on_chunk`` fed the transcript of the chunks instead of their text."""

    def on_text(chunk: Chunk) -> None:
        if chunk.reset:  # at byte 0 (the file restarted), or where a skip ahead landed
            transcript.reset(0 if chunk.data else chunk.offset)
        rendered = transcript.feed(chunk.data, chunk.offset)
        if rendered.text or chunk.reset:
            on_chunk(Chunk(rendered.text, rendered.offset, chunk.reset, chunk.more))

    return on_text
