r"""LogViewer: one session's output, followed live in the kernel, shown in a terminal-like pane.

The kernel's engine follows the session's output file for it (a :class:`~..core.watch.follower.
Follower`, read on the engine's one thread when the file is written); the viewer renders what
was appended to HTML lines (:mod:`.ansi`) and sends only those to the page as custom messages.
A today's worker's JSON messages (``.jsonl``) are shown as their transcript
(:mod:`~..core.saga.transcript`, the renderer every client shares; ``view="raw"``: as written),
each line knowing the file offset of the message it shows, for "load earlier". The
kernel keeps the lines shown (at most ``max_lines``) so that a view opened later, or a reloaded
page, asks for them once (``ready``) instead of the kernel re-sending everything on each update.

Messages, kernel to page (every ``lines``/``open`` item is HTML made by :mod:`.ansi`):

- ``{"type": "snapshot", "lines": [...], "open": str | None, "limit": int}``: show exactly this.
- ``{"type": "append", "lines": [...], "open": str | None, "limit": int}``: drop the open
  (incomplete) last line shown, if any, append ``lines``, then show ``open`` as the new open
  line (a ``\r`` progress line is re-sent this way until its newline); keep ``limit`` lines.
- ``{"type": "prepend", "lines": [...]}``: earlier output, above what is shown.
- ``{"type": "reset"}``: clear (file truncated or replaced, or another session).

Page to kernel: ``{"type": "ready"}`` (a view was rendered: answered with a snapshot) and
``{"type": "earlier"}`` (:meth:`LogViewer.load_earlier`).
"""

from __future__ import annotations

import logging
import os
import pathlib
import threading
from collections import deque
from typing import Any, Protocol

import anywidget
import traitlets

from ..core.engine import engine_for
from ..core.saga.names import output_format, output_path, parse_name
from ..core.saga.transcript import Transcript
from ..core.settings import resolve
from ..core.watch.follower import VIEWS, Follower
from ..core.watch.tailer import Chunk, line_start, read_range
from .ansi import AnsiRenderer, Line

logger = logging.getLogger(__name__)

WINDOW_BYTES = 256 * 1024  # first view of a file: its last 256 KiB, whatever its size
SKIP_BYTES = 4 * WINDOW_BYTES  # further behind than this: jump to the tail, don't render it all
EARLIER_BYTES = 64 * 1024  # one "load earlier": at most this much of the file...
EARLIER_LINES = 1000  # ...and at most this many lines
PAUSED_FACTOR = 4  # while paused, lines loaded earlier are kept up to 4 x max_lines
SEND_INTERVAL = 0.025  # at most 40 updates a second to the page
_ASSETS = pathlib.Path(__file__).parent  # logviewer.js and .css ship next to this module


class Closable(Protocol):
    """What a viewer follows a session with: a :class:`Follower`, or another source's."""

    def close(self) -> None:
        """Stop: no callback after the one under way."""


class LogViewer(anywidget.AnyWidget):
    """The output of one SAGA session, live: ANSI colours, search, follow/pause, load earlier.

    The kernel's engine follows the file for it until :meth:`close`: one thread and one
    directory watch per kernel, however many viewers.

    >>> viewer = LogViewer("saga__auth__login-form__4242")  # doctest: +SKIP
    >>> viewer.lines[-1], viewer.status  # doctest: +SKIP
    ('done', 'complete')
    >>> viewer.close()  # doctest: +SKIP
    """

    # The files' text, not their paths: anywidget ties every instance to a class-wide watcher
    # of a path (for hot reload), so no viewer given a path is ever freed.
    _esm = _ASSETS.joinpath("logviewer.js").read_text(encoding="utf-8")
    _css = _ASSETS.joinpath("logviewer.css").read_text(encoding="utf-8")

    name = traitlets.Unicode(None, allow_none=True, help="The session shown.").tag(sync=True)
    max_lines = traitlets.Int(5000, help="Lines kept in the page while following.").tag(sync=True)
    follow = traitlets.Bool(True, help="Scroll to new output as it comes.").tag(sync=True)
    status = traitlets.Unicode("idle", help="idle, streaming or complete.").tag(sync=True)
    message = traitlets.Unicode("", help="A note shown next to the status.").tag(sync=True)
    has_earlier = traitlets.Bool(False, help="Whether the file holds earlier output.").tag(
        sync=True
    )
    view = traitlets.Enum(
        VIEWS, "transcript", help="A today's worker's messages rendered, or raw (as written)."
    )

    def __init__(
        self,
        name: str | None = None,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        tmux_socket_name: str | None = None,
        max_lines: int = 5000,
        view: str = "transcript",
        **kwargs: Any,
    ) -> None:
        settings = resolve(output_dir, tmux_socket_name)
        self.output_dir = settings.output_dir
        self.tmux_socket_name = settings.tmux_socket_name
        self._engine = engine_for(settings)
        self._lock = threading.RLock()  # the lines held, and the order of messages sent
        self._lines: deque[Line] = deque()
        self._open: Line | None = None
        self._generation = 0  # bumped on every switch: a stale follower's reads are dropped
        self._closed = False
        self._follower: Closable | None = None
        self._reading: _Reading | None = None
        self._transcribing = False  # the session shown is shown as a transcript
        if name is not None:
            parse_name(name)  # before the widget exists: a bad name makes no comm
        super().__init__(max_lines=max_lines, view=view, **kwargs)
        self.on_msg(self._on_page_message)
        self.name = name

    # -- public

    @property
    def lines(self) -> list[str]:
        """The lines shown, as plain text (the open last line included)."""
        with self._lock:
            return [line.text for line in self._shown()]

    @property
    def text(self) -> str:
        """The text shown: :attr:`lines` joined by newlines."""
        return "\n".join(self.lines)

    @property
    def output_file(self) -> pathlib.Path | None:
        """The output file followed, or ``None`` without a session."""
        return None if self.name is None else output_path(self.output_dir, self.name)

    def snapshot(self) -> dict[str, Any]:
        """The ``snapshot`` message: everything shown, as a new view gets it."""
        with self._lock:
            return {
                "type": "snapshot",
                "lines": [line.html for line in self._lines],
                "open": None if self._open is None else self._open.html,
                "limit": self._limit(),
            }

    def refresh(self) -> None:
        """Read the file now rather than at the next file event (returns at once)."""
        self._engine.poke()

    def load_earlier(self, max_bytes: int = EARLIER_BYTES, max_lines: int = EARLIER_LINES) -> int:
        """Show up to ``max_lines`` lines (``max_bytes`` of the file) before the first one shown.

        Pauses following, or the next output would push them out again. Returns how many
        lines were added (0 at the start of the file, or with no room left while paused).
        """
        with self._lock:
            generation, name, end = self._generation, self.name, self._first_offset()
            transcribing = self._transcribing
        if name is None or end <= 0:
            return 0
        # One byte more, before the range: a newline there means the range starts a line.
        start = max(0, end - max_bytes - 1)
        data = self._read_range(start, end - start)
        if data is None:
            return 0
        lines = _render_range(data, start, transcribing)[-max_lines:]
        with self._lock:
            if self._closed or generation != self._generation or end != self._first_offset():
                return 0  # another session, a reset or trimming came first: the range is stale
            self.follow = False
            room = self._limit() - self._count()  # paused now: the larger limit
            lines = lines[-room:] if room > 0 else []
            self._lines.extendleft(reversed(lines))
            self._emit({"type": "prepend", "lines": [line.html for line in lines]})
            self._update_has_earlier()
        return len(lines)

    def close(self) -> None:
        """Stop following (the engine stops once nobody uses it) and close the widget."""
        with self._lock:
            self._closed = True
            follower, self._follower = self._follower, None
        if follower is not None:
            follower.close()
        super().close()

    def _read_range(self, start: int, length: int) -> bytes | None:
        """Bytes of the output from ``start`` (for "load earlier"); ``None`` when unreadable."""
        path = self.output_file
        try:
            return None if path is None else read_range(path, start, length)[0]
        except OSError:
            return None

    # -- traits

    @traitlets.validate("name")
    def _valid_name(self, proposal: dict[str, Any]) -> str | None:
        value = proposal["value"]
        return None if value is None else parse_name(value).name

    @traitlets.validate("max_lines")
    def _valid_max_lines(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise traitlets.TraitError(f"max_lines must be at least 1: {proposal['value']}")
        return int(proposal["value"])

    @traitlets.observe("view")
    def _view_changed(self, change: dict[str, Any]) -> None:
        if self.name is not None:
            self._switch({"new": self.name})  # the same session, from its tail again

    @traitlets.observe("name")
    def _switch(self, change: dict[str, Any]) -> None:
        name = change["new"]
        with self._lock:
            if self._closed:
                return
            self._generation += 1
            self._lines.clear()
            self._open = None
            self._emit({"type": "reset"})
            self.status = "idle" if name is None else "streaming"
            self.message = ""
            self.has_earlier = False
            old, self._follower = self._follower, None
        if old is not None:
            old.close()
        if name is not None:
            self._start(name)

    @traitlets.observe("follow", "max_lines")
    def _limit_changed(self, change: dict[str, Any]) -> None:
        with self._lock:
            self._trim()  # the page trims itself on the same change
            self._update_has_earlier()

    # -- the lines held (all under self._lock)

    def _limit(self) -> int:
        return self.max_lines if self.follow else self.max_lines * PAUSED_FACTOR

    def _shown(self) -> list[Line]:
        shown = list(self._lines)
        return shown if self._open is None else [*shown, self._open]

    def _count(self) -> int:
        """Rows in the page: the complete lines, and the open one counting as one."""
        return len(self._lines) + (self._open is not None)

    def _trim(self) -> None:
        # The same rule as the page: at most limit rows.
        for _ in range(max(0, self._count() - self._limit())):
            self._lines.popleft()

    def _first_offset(self) -> int:
        first = self._lines[0] if self._lines else self._open
        return 0 if first is None else first.start

    def _update_has_earlier(self) -> None:
        self.has_earlier = self._first_offset() > 0

    def _apply(self, reset: bool, lines: list[Line], open_line: Line | None) -> None:
        if reset:
            self._lines.clear()
            self._emit({"type": "reset"})
        limit = self._limit()
        lines = lines[-limit:]
        self._lines.extend(lines)
        self._open = open_line
        self._trim()
        self._update_has_earlier()
        if reset and not lines and open_line is None:
            return  # an emptied file: the reset says it all
        self._emit(
            {
                "type": "append",
                "lines": [line.html for line in lines],
                "open": None if open_line is None else open_line.html,
                "limit": limit,
            }
        )

    def _emit(self, message: dict[str, Any]) -> None:
        if not self._closed:
            self.send(message)

    def _on_page_message(self, _widget: object, content: Any, _buffers: object) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ready":
            with self._lock:  # no append may slip between building and sending it
                self._emit(self.snapshot())
        elif kind == "earlier" and self.load_earlier() == 0:
            self._emit({"type": "prepend", "lines": []})  # the page waits for an answer

    # -- following (callbacks on the engine's thread)

    def _start(self, name: str) -> None:
        generation = self._generation
        transcribing = self.view == "transcript" and output_format(name) == "messages"
        reading = _Reading(self.max_lines * PAUSED_FACTOR, transcribing)
        follower: Follower
        follower = self._engine.follower(
            name,
            window=WINDOW_BYTES,
            min_interval=SEND_INTERVAL,  # a burst of writes becomes one message
            catch_up=SKIP_BYTES,
            ends=False,  # the file may still change, the session run again
            on_chunk=reading.add,
            on_flush=lambda: self._flush(generation, reading, follower),
        )
        reading.start(follower.tailer.offset)
        with self._lock:
            if self._closed or generation != self._generation:
                follower.tailer.close()  # switched or closed meanwhile
                return
            self._follower = follower
            self._transcribing = transcribing
        self._engine.follow(follower)
        logger.info("log viewer following %s", name)

    def _flush(self, generation: int, reading: _Reading, follower: Follower) -> None:
        update = reading.take()
        with self._lock:
            if self._closed or generation != self._generation:
                return
            if update is not None:
                self._apply(*update)
            self.status = "complete" if follower.complete else "streaming"
            if not follower.missing:
                self.message = ""
            else:
                self.message = "no output file" if follower.ended else "waiting for output"


class _Reading:
    """The rendering side of one followed session: lines not yet sent (engine thread only)."""

    def __init__(self, keep: int, transcribing: bool = False) -> None:
        self.keep = keep  # lines worth rendering into one update: more would be trimmed
        self.renderer = AnsiRenderer(0)
        self.transcript = Transcript() if transcribing else None
        self.reset = False
        self.lines: list[Line] = []
        self.sent_open: Line | None = None

    def start(self, offset: int) -> None:
        """Start at byte ``offset`` of the file (where the follower starts reading)."""
        self.renderer.reset(offset)
        if self.transcript is not None:
            self.transcript.reset(offset)

    def add(self, chunk: Chunk) -> None:
        """Render a chunk (a reset starts over: at byte 0, or where a skip ahead landed)."""
        if chunk.reset:
            self.reset, self.lines = True, []
            self.start(0 if chunk.data else chunk.offset)
        if self.transcript is None:
            self.lines.extend(self.renderer.feed(chunk.data, chunk.offset))
        else:
            self.lines.extend(_transcribed(self.transcript.feed_lines(chunk.data, chunk.offset)))
        del self.lines[: -self.keep]

    def take(self) -> tuple[bool, list[Line], Line | None] | None:
        """What changed since the last take: (reset, lines completed, open line), or ``None``."""
        reset, lines, open_line = self.reset, self.lines, self.renderer.open_line
        self.reset, self.lines = False, []
        if not reset and not lines and open_line == self.sent_open:
            return None
        self.sent_open = open_line
        return reset, lines, open_line


def _render_range(data: bytes, start: int, transcribing: bool = False) -> list[Line]:
    """Render bytes read from ``start``: from the first line start after their first byte.

    Without a newline in them (one long line) they start at their first whole character.
    A transcript renders their complete lines only (they end where a message shown starts).
    """
    if start > 0:
        skip = line_start(data)
        data, start = data[skip:], start + skip
    text = data.decode("utf-8", errors="replace")
    if transcribing:
        return _transcribed(Transcript(start).feed_lines(text, start + len(data)))
    renderer = AnsiRenderer(start)
    return renderer.feed(text) + renderer.flush()


def _transcribed(messages: list[tuple[int, str]]) -> list[Line]:
    """The HTML lines of rendered messages, each line at the offset of its message."""
    renderer = AnsiRenderer(0)
    lines: list[Line] = []
    for start, rendering in messages:
        renderer.reset(start)
        lines += [line._replace(start=start) for line in renderer.feed(rendering)]
    return lines
