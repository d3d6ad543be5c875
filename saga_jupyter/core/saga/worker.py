r"""Reading a SAGA worker's own output: its cycles, its last tool, and how it ended.

A worker (``saga implement <story> --attached --stream`` under ``script -q``) prints a header
(``Starting story implementation...``, ``  Epic: ...``), then per cycle ``--- Worker <n> started
---``, the agent's stream with ``[Tool: <name>]`` markers (often without newlines between them),
``--- Worker <n> result: ONGOING|FINISH|BLOCKED ---``, and at the end its result as
pretty-printed JSON (``status``, ``summary``, ``cycles``, ``elapsedMinutes``, ``blocker``).

A :class:`WorkerReader` is fed the text as it is appended (ANSI sequences and carriage returns
included) and keeps only what a marker split across two feeds needs, and the final JSON while it
is being written. Output with none of these markers gives no reading (``None``), never a guess.

>>> reader = WorkerReader()
>>> reader.feed("--- Worker 2 started ---\n[Tool: Bash]\x1b[0m[Tool: Edit")
>>> reader.feed("]--- Worker 2 result: ONGOING ---")
>>> reader.reading.cycle, reader.reading.last_result, reader.reading.last_tool
(2, 'ONGOING', 'Edit')
"""

from __future__ import annotations

import bisect
import codecs
import json
import os
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..text import ANSI_PATTERN
from ..watch.files import open_regular, read_pieces
from ..watch.tailer import utf8_decoder
from .jsonend import ObjectEnds
from .needles import v3_resume_at

RESULTS = ("ONGOING", "FINISH", "BLOCKED")
# v3's five, then today's: INCOMPLETE (its cycles or time ran out), STOPPED (asked to stop).
OUTCOMES = ("FINISH", "BLOCKED", "TIMEOUT", "MAX_CYCLES", "ERROR", "INCOMPLETE", "STOPPED")
# Outcomes that need a person, most urgent first (sort=attention): blocked, failed, ran out.
ATTENTION = ("BLOCKED", "ERROR", "INCOMPLETE", "TIMEOUT", "MAX_CYCLES")
ATTENTION_RANKS = {"BLOCKED": 0, "ERROR": 1, "INCOMPLETE": 2, "TIMEOUT": 2, "MAX_CYCLES": 2}
RUNNING_RANK, REST_RANK = 3, 4  # then the sessions still running, then all the others

# Each marker starts with its own literal, so the regex engine skips to it at C speed (one
# pattern of alternatives would try every position: 20 times slower).
CYCLE_MARKER = re.compile(
    r"--- Worker (?P<cycle>[0-9]{1,6}) (?:started|result: (?P<result>ONGOING|FINISH|BLOCKED)) ---"
)
TOOL_MARKER = re.compile(r"\[Tool: (?P<tool>[^\]\r\n]{1,100})\]")
TOOL_OPEN = re.compile(r"\[Tool: [^\]\r\n]{0,100}\Z")  # a tool marker its "]" may still close
HEADER = re.compile(r"Starting story implementation\.\.\.")  # at a line's start
MAX_MARKER = 160  # characters: longer than any marker, so one split across feeds is kept
MAX_RESULT = 64 * 1024  # the final JSON is small; anything larger is not it, and never parsed
MAX_RESULT_DEPTH = 16  # nor is anything nested deeper (it is flat)
FIRST_READ = 64 * 1024  # bytes: where a file seen for the first time is read from its end
PIECE = 256 * 1024  # bytes searched for a marker at a time: one found costs reading this much
READ_BUDGET = 64 << 20  # bytes one look at a file reads at most: the rest at the next look


@dataclass(frozen=True)
class TaskCounts:
    """A story's tasks as a worker's ``TaskUpdate`` calls left them; ``total`` from its files."""

    completed: int = 0
    in_progress: int = 0
    total: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's ``tasks`` object."""
        return {"completed": self.completed, "inProgress": self.in_progress, "total": self.total}


@dataclass(frozen=True)
class WorkerReading:
    """What a worker's output says: its cycle, last result and tool, and how it ended.

    The first seven fields are read from both generations (v3 terminal output, v4 messages;
    ``last_result`` is v3's only); the others only from a v4 worker's messages (``None`` for
    v3). ``story_id``, ``project``, ``started_at`` and ``ended_at`` are for the caller (the
    session's story, project and times), not part of the ``worker`` object.
    """

    cycle: int | None = None
    last_result: str | None = None
    last_tool: str | None = None
    outcome: str | None = None
    summary: str | None = None
    blocker: str | None = None
    elapsed_minutes: float | None = None
    max_cycles: int | None = None
    cost_usd: float | None = None
    turns: int | None = None
    tasks: TaskCounts | None = None
    worktree: str | None = None
    pr: str | None = None
    story_id: str | None = None
    project: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def needs_attention(self) -> bool:
        """Whether it ended in a way that needs a person (blocked, failed, ran out)."""
        return self.outcome in ATTENTION or self.blocker is not None

    def to_json(self) -> dict[str, Any]:
        """The contract's ``worker`` object."""
        return {
            "cycle": self.cycle,
            "lastResult": self.last_result,
            "lastTool": self.last_tool,
            "outcome": self.outcome,
            "summary": self.summary,
            "blocker": self.blocker,
            "elapsedMinutes": self.elapsed_minutes,
            "maxCycles": self.max_cycles,
            "costUsd": self.cost_usd,
            "turns": self.turns,
            "tasks": None if self.tasks is None else self.tasks.to_json(),
            "worktree": self.worktree,
            "pr": self.pr,
        }


def attention_rank(info: Any) -> int:
    """Where a session stands when those needing a person come first (0 first).

    Blocked (a v3 outcome, or a blocker its story's journal leaves unresolved), then failed,
    then out of cycles or time, then running, then the rest. ``info`` is a
    :class:`~.info.SessionInfo` (its ``status`` and ``worker`` reading, or ``None``).
    """
    worker = info.worker
    if worker is not None and worker.blocker is not None:
        return ATTENTION_RANKS["BLOCKED"]
    outcome = worker.outcome if worker is not None else None
    if outcome in ATTENTION_RANKS:
        return ATTENTION_RANKS[outcome]
    return RUNNING_RANK if info.status == "running" else REST_RANK


class WorkerReader:
    """Reads a worker's output as it is appended; :attr:`reading` is ``None`` until recognised."""

    def __init__(self) -> None:
        self.reading: WorkerReading | None = None
        self._held = ""  # an escape sequence cut at the end of the last feed, raw
        self._tail = ""  # the plain text after the last marker: one may continue here
        # The final JSON, from a line holding only "{" to a line "}": found in linear time.
        self._objects = ObjectEnds(max_size=MAX_RESULT, max_depth=MAX_RESULT_DEPTH)

    @property
    def quiet(self) -> bool:
        """Whether no escape sequence waits for its rest and no result JSON is open."""
        return not self._held and self._objects.idle

    def before(self) -> bytes:
        """The plain text a marker may continue from, after a line end (a marker's start)."""
        return b"\n" + self._tail.encode()

    def resume(self, text: str) -> None:
        """Take ``text`` as if fed after text without a marker (or a ``{`` starting a line).

        Only when :attr:`quiet`, and ``text`` starts with the line end a marker cannot span:
        then what the skipped text leaves (its tail, its last character) is in ``text``.
        """
        self._tail = ""
        self._objects = ObjectEnds(max_size=MAX_RESULT, max_depth=MAX_RESULT_DEPTH)
        self.feed(text)

    def feed(self, text: str) -> None:
        """Take the text appended since the last feed."""
        text = self._held + text
        # An escape sequence cut at the end waits for its rest: it must not hide a marker.
        escape = text.find("\x1b", max(0, len(text) - 32))
        cut = escape if escape >= 0 and not ANSI_PATTERN.match(text, escape) else len(text)
        self._held = text[cut:]
        new = ANSI_PATTERN.sub("", text[:cut]).replace("\r\n", "\n")
        window = self._tail + new
        # What a tool marker not closed yet holds (a quoted cycle marker) waits for its "]".
        open_tool = TOOL_OPEN.search(window, max(0, len(window) - MAX_MARKER))
        consumed = self._markers(window[: open_tool.start()] if open_tool else window)
        self._results(new)
        self._tail = window[max(consumed, len(window) - MAX_MARKER) :]

    def _markers(self, window: str) -> int:
        """Apply the markers in ``window`` (the last of each kind counts); where the last ends.

        A cycle marker quoted in a tool marker (``[Tool: grep '--- Worker 1 started ---']``)
        is not one.
        """
        tools = list(TOOL_MARKER.finditer(window))
        tool_starts = [tool.start() for tool in tools]
        cycle = result = None
        for match in CYCLE_MARKER.finditer(window):
            around = bisect.bisect(tool_starts, match.start()) - 1
            if around >= 0 and match.start() < tools[around].end():
                continue
            cycle = match
            result = match if match["result"] is not None else result
        tool = tools[-1] if tools else None
        header = _at_line_start(HEADER, window)
        found = [match for match in (cycle, tool, header) if match is not None]
        if not found:
            return 0
        reading = self.reading or WorkerReading()
        if cycle is not None:
            reading = replace(reading, cycle=int(cycle["cycle"]))
        if result is not None:
            reading = replace(reading, last_result=result["result"])
        if tool is not None:
            reading = replace(reading, last_tool=tool["tool"].strip())
        self.reading = reading
        return max(match.end() for match in found)

    def _results(self, new: str) -> None:
        """Read the final JSON, once its last line ``}`` is there.

        Every candidate is followed once and parsed at most once, when it closes within
        :data:`MAX_RESULT` characters (:class:`~.jsonend.ObjectEnds`): linear in the text.
        """
        for document in self._objects.feed(new):
            if self.reading is not None:  # only a recognised worker's JSON counts
                self._ended(document)

    def _ended(self, document: str) -> bool:
        """Take ``document`` as the final result if it is one."""
        try:
            result = json.loads(document)
        except ValueError:
            return False
        if not isinstance(result, dict) or result.get("status") not in OUTCOMES:
            return False
        assert self.reading is not None
        self.reading = replace(
            self.reading,
            outcome=result["status"],
            summary=_text(result.get("summary")),
            blocker=_text(result.get("blocker")),
            elapsed_minutes=_number(result.get("elapsedMinutes")),
            cycle=_count(result.get("cycles")) or self.reading.cycle,
        )
        return True


def _at_line_start(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The first match of ``pattern`` that starts a line of ``text`` (or ``text`` itself)."""
    for match in pattern.finditer(text):
        if match.start() == 0 or text[match.start() - 1] == "\n":
            return match
    return None


def _text(value: object) -> str | None:
    return value[:2000] if isinstance(value, str) and value else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


class WorkerFiles:
    """The worker reading of every output file, each read only where it grew since last time.

    A file seen for the first time, or replaced, or truncated, is read from its last
    :data:`FIRST_READ` bytes, never whole. After that every appended byte is read, so no
    marker is missed: :data:`PIECE` bytes at a time (never more held than that), at most
    ``budget`` bytes a look, the next look going on from there.

    With ``scan`` (the default) a piece is searched for what could start a marker first
    (:mod:`.needles`), and only the text from the last line end before it is decoded and
    read: output without markers costs a few passes of C, not a reading.
    """

    def __init__(self, *, scan: bool = True, budget: int = READ_BUDGET) -> None:
        self.scan = scan
        self.budget = budget
        self._files: dict[str, tuple[int, int, WorkerReader, codecs.IncrementalDecoder]] = {}

    def read(self, name: str, path: str, size: int, inode: int) -> WorkerReading | None:
        """The reading of session ``name``'s output file, now ``size`` bytes long."""
        known = self._files.get(name)
        if known is None or known[1] != inode or size < known[0]:
            start, reader, decoder = max(0, size - FIRST_READ), WorkerReader(), utf8_decoder()
        else:
            start, _, reader, decoder = known
        try:
            fd, _ = open_regular(path)
        except OSError:
            self._files.pop(name, None)
            return None
        position = start
        try:  # a file truncated meanwhile: the next look starts it again
            for piece in read_pieces(fd, start, min(size, start + self.budget), PIECE):
                self._feed(reader, decoder, piece)
                position += len(piece)
        finally:
            os.close(fd)
        self._files[name] = (position, inode, reader, decoder)
        return reader.reading

    def forget(self, name: str) -> None:
        """Drop what is known of a session's file."""
        self._files.pop(name, None)

    def _feed(self, reader: WorkerReader, decoder: codecs.IncrementalDecoder, piece: bytes) -> None:
        if self.scan and reader.quiet:
            resume = v3_resume_at(reader.before(), piece)
            if resume is not None:
                decoder.reset()  # at a line end: what it held was in the part skipped
                reader.resume(decoder.decode(piece[resume:]))
                return
        reader.feed(decoder.decode(piece))
