r"""Reading a today's (v4) SAGA worker from the JSON messages it writes, one a line.

The worker appends ``JSON.stringify(message) + "\n"`` to ``<output_dir>/<name>.jsonl``: its own
``saga_worker`` messages (``pipeline_start``, ``pipeline_step``, ``cycle_start``, ``cycle_end``,
``pipeline_end``) and every Agent SDK message (``system``, ``assistant``, ``user``, ``result``,
and whatever else the installed ``claude`` emits). A :class:`MessageReader` is fed the bytes as
they are appended and keeps what a person watching needs (:class:`~..worker.WorkerReading`):
the cycle, the last tool, cost and turns summed over the cycles' results, the tasks as the
``TaskUpdate`` calls left them, the worktree and PR, and how the pipeline ended.

The file is written by an agent running arbitrary commands: only ``\n``-terminated lines are
read (a partial line waits), a line over :data:`MAX_LINE_BYTES` is counted and dropped without
ever being held, one nested deeper than :data:`MAX_DEPTH` is not parsed, and a line that fails
in any way is skipped and counted, never raised. Unknown types and subtypes are skipped.

>>> reader = MessageReader()
>>> reader.feed(b'{"type":"saga_worker","subtype":"cycle_start","cycle":2,"maxCycles":10}\n{"ty')
>>> reader.reading.cycle, reader.reading.max_cycles
(2, 10)
"""

from __future__ import annotations

import functools
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import Any

from .lines import MAX_LINE_BYTES, LineBuffer, parse_message
from .needles import v4_lines
from .recent import KEPT, Recent
from .worker import TaskCounts, WorkerReading

logger = logging.getLogger(__name__)

MAX_TEXT = 2000  # characters kept of a summary
MAX_TASKS = 10_000  # task ids tracked: a story has a handful
MAX_PATH = 4096
STORY_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
URL = re.compile(r"https?://[^\s\"'<>]{1,2000}")


@dataclass
class _Read:
    """What the messages said so far (mutable; :attr:`MessageReader.reading` freezes it)."""

    cycle: int | None = None
    max_cycles: int | None = None
    last_tool: str | None = None
    cost_usd: float | None = None
    turns: int | None = None
    task_status: dict[str, str] = field(default_factory=dict)
    worktree: str | None = None
    pr: str | None = None
    cwd_project: str | None = None
    pipeline_outcome: str | None = None
    elapsed_minutes: float | None = None
    summary: str | None = None
    story_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None


class MessageReader:
    """Reads a worker's messages as they are appended; :attr:`reading` is ``None`` until one is.

    The work per appended byte is bounded (each byte is scanned, copied and parsed once),
    however the file's writes split its lines. With ``scan`` (the default), once a message was
    read, the lines of a feed holding none of :data:`~.needles.V4_NEEDLES` (tool results,
    assistant text: most of the bytes) are counted, kept for the preview, and not parsed:
    parsed, they would change nothing.
    """

    def __init__(self, *, scan: bool = True) -> None:
        self.scan = scan
        #: Complete lines read, and those of them skipped (not a message, or over the bounds;
        #: with ``scan``, of the lines parsed).
        self.lines = 0
        self.skipped = 0
        #: The last messages, for the preview.
        self.recent = Recent()
        self._lines = LineBuffer(b"\n")
        self._read = _Read()
        self._recognised = False
        self._end: tuple[str, str | None] | None = None  # (ERROR or STOPPED, pane summary)
        self._reading: WorkerReading | None = None
        self._dirty = False

    @property
    def reading(self) -> WorkerReading | None:
        """What the messages read so far say (``None`` before the first message)."""
        if self._dirty:
            self._reading = self._freeze()
            self._dirty = False
        return self._reading

    def feed(self, data: bytes) -> None:
        """Take the bytes appended since the last feed."""
        # A line of the body is shorter than the limit (the body is): none is over it.
        if not self.scan or not self._recognised or len(data) > MAX_LINE_BYTES:
            self._split(data)
            return
        first, last = data.find(b"\n"), data.rfind(b"\n")
        if first < 0:
            self._split(data)
            return
        # The first line is read as before: it ends one held, or (alone) says what it is.
        at = body = first + 1
        self._split(data[:body])
        for start, end in v4_lines(data, body, last + 1):
            self.lines += data.count(b"\n", at, start)
            self._line(data[start:end], keep=False)
            at = end + 1
        self.lines += data.count(b"\n", at, last + 1)
        self._keep_last(data, body, last + 1)
        self._split(data[last + 1 :])

    def _keep_last(self, data: bytes, start: int, end: int) -> None:
        """Keep the last non-empty lines of ``data[start:end]`` for the preview, unparsed."""
        kept: list[bytes] = []
        while end > start and len(kept) < KEPT:
            begin = data.rfind(b"\n", start, end - 1) + 1 or start
            if line := data[begin : end - 1]:
                if line.strip():
                    kept.append(line)
            end = begin
        for line in reversed(kept):
            self.recent.add(line)

    def _split(self, data: bytes) -> None:
        for line, size in self._lines.split(data):
            if line is None:
                self.lines += 1
                self.skipped += 1
                logger.debug("skipped a line of %d bytes", size)
            else:
                self._line(line)

    def ended(self, stopped: bool = False, pane_summary: str | None = None) -> None:
        """Say that its tmux session is gone, so how it ended if no ``pipeline_end`` says how.

        ``STOPPED`` when saga_jupyter was asked to stop it, else ``ERROR`` with the last lines
        its pane showed as the summary (SAGA writes its fatal errors only there).
        """
        summary = _text(pane_summary)
        self._end = ("STOPPED" if stopped else "ERROR", summary)
        self._recognised = self._dirty = True

    def revived(self) -> None:
        """Say that its tmux session is there after all: the end told before is taken back."""
        self._end = None
        self._dirty = True

    # -- one line

    def _line(self, line: bytes, keep: bool = True) -> None:
        self.lines += 1
        try:
            message, _ = parse_message(line)
            if keep and line.strip():
                self.recent.add(line if message is None else message)
            if message is None or not self._take(message):
                self.skipped += 1
        except Exception:  # a line must never stop the reading: skip it, count it
            logger.debug("skipped a message that failed", exc_info=True)
            self.skipped += 1

    def _take(self, message: dict[str, Any]) -> bool:
        """Apply one message; whether it was one (a ``type``), known or not."""
        kind = message.get("type")
        if not isinstance(kind, str):
            return False
        self._recognised = self._dirty = True
        subtype = message.get("subtype")
        if kind == "saga_worker":
            self._worker(subtype, message)
        elif kind == "assistant":
            self._assistant(message.get("message"))
        elif kind == "result":
            self._result(message)
        elif kind == "system" and subtype == "init":
            self._read.cwd_project = project_of(message.get("cwd"))
        return True

    def _worker(self, subtype: object, message: dict[str, Any]) -> None:
        read = self._read
        if subtype == "cycle_start":
            read.cycle = _count(message.get("cycle"), read.cycle)
            read.max_cycles = _count(message.get("maxCycles"), read.max_cycles)
        elif subtype == "pipeline_step":
            text = message.get("message")
            if not isinstance(text, str):
                return
            if message.get("step") == 1 and " at " in text:
                path = text.split(" at ", 1)[1].strip()
                if path.startswith("/") and len(path) <= MAX_PATH:
                    read.worktree = path
            elif message.get("step") == 2 and (url := URL.search(text)) is not None:
                read.pr = url[0]
        elif subtype == "pipeline_start":
            read.story_id = _story(message.get("storyId")) or read.story_id
            read.started_at = read.started_at or _time(message.get("timestamp"))
        elif subtype == "pipeline_end":
            status = message.get("status")
            outcome = {"completed": "FINISH", "incomplete": "INCOMPLETE"}.get(str(status))
            if outcome is None:
                return  # a status SAGA does not write: not an end we can name
            read.pipeline_outcome = outcome
            read.elapsed_minutes = _number(message.get("elapsedMinutes"))
            read.story_id = _story(message.get("storyId")) or read.story_id
            read.ended_at = _time(message.get("timestamp"))
            if read.cycle is None:
                read.cycle = _count(message.get("cycles"), None)

    def _assistant(self, api_message: object) -> None:
        content = api_message.get("content") if isinstance(api_message, dict) else None
        if not isinstance(content, list):
            return
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "tool_use":
                continue
            name = block.get("name")
            if isinstance(name, str) and name:
                self._read.last_tool = name[:100]
            arguments = block.get("input")
            if name == "TaskUpdate" and isinstance(arguments, dict):
                self._task(arguments.get("taskId"), arguments.get("status"))

    def _task(self, task_id: object, status: object) -> None:
        if isinstance(task_id, bool) or not isinstance(task_id, str | int):
            return
        if not isinstance(status, str):
            return  # an update of its subject or owner
        tasks, key = self._read.task_status, str(task_id)[:200]
        if key in tasks or len(tasks) < MAX_TASKS:
            tasks[key] = status[:40]

    def _result(self, message: dict[str, Any]) -> None:
        read = self._read
        cost = _number(message.get("total_cost_usd"))
        if cost is not None:
            read.cost_usd = (read.cost_usd or 0.0) + cost
        turns = _count(message.get("num_turns"), None)
        if turns is not None:
            read.turns = (read.turns or 0) + turns
        text = message.get("result")
        errors = message.get("errors")
        if isinstance(text, str) and text:
            read.summary = _text(text)
        elif isinstance(errors, list) and errors:
            read.summary = _text("\n".join(str(error)[:MAX_TEXT] for error in errors[:20]))

    def _freeze(self) -> WorkerReading | None:
        if not self._recognised:
            return None
        read = self._read
        outcome, summary = read.pipeline_outcome, read.summary
        if outcome is None and self._end is not None:
            outcome = self._end[0]
            if outcome == "ERROR" and self._end[1] is not None:
                summary = self._end[1]  # SAGA writes its fatal errors only to the pane
        statuses = list(read.task_status.values())
        return WorkerReading(
            cycle=read.cycle,
            last_tool=read.last_tool,
            outcome=outcome,
            summary=summary,
            elapsed_minutes=read.elapsed_minutes,
            max_cycles=read.max_cycles,
            cost_usd=None if read.cost_usd is None else round(read.cost_usd, 6),
            turns=read.turns,
            tasks=TaskCounts(statuses.count("completed"), statuses.count("in_progress")),
            worktree=read.worktree,
            pr=read.pr,
            story_id=read.story_id,
            project=project_of(read.worktree) or read.cwd_project,
            started_at=read.started_at,
            ended_at=read.ended_at,
        )


def project_of(path: object) -> str | None:
    """The project of a worktree path ``<project>/.saga/worktrees/<storyId>``, else ``None``.

    >>> project_of("/home/me/proj/.saga/worktrees/auth-login"), project_of("/home/me/proj")
    ('/home/me/proj', None)
    """
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH:
        return None
    return _project_of(path)


@functools.lru_cache(maxsize=1024)
def _project_of(path: str) -> str | None:
    # Once per path, not once per reading: a reading is made on every look at a grown file.
    worktree = PurePosixPath(path)
    if ".." in worktree.parts or "\x00" in path:
        return None
    if worktree.parent.name != "worktrees" or worktree.parent.parent.name != ".saga":
        return None
    project = worktree.parent.parent.parent
    return str(project) if STORY_ID.fullmatch(worktree.name) else None


def _count(value: object, default: int | None) -> int | None:
    return value if type(value) is int and 0 <= value < 1 << 63 else default


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _text(value: object) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def _story(value: object) -> str | None:
    if isinstance(value, str) and len(value) <= 200 and STORY_ID.fullmatch(value):
        return value
    return None


def _time(value: object) -> datetime | None:
    """An ISO 8601 time as SAGA writes it (``...T09:12:03.481Z``), in UTC; else ``None``."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
