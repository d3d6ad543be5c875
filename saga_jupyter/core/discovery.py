"""Discovery: one tmux call joined with one listing of the output directory gives every session.

Status follows the contract: ``running`` when a tmux session of exactly that name is alive,
``completed`` when it is not but its output file exists or it is remembered. A completed
session is forgotten once its output file, seen before, is gone. What is known of each session
(start, end, activity, what launched it) is kept in ``memory`` as store records: the server
loads them from the metadata store at start, and saves them whenever ``changed`` is set.
"""

from __future__ import annotations

import logging
import os
import stat as stat_module
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from .errors import TmuxUnavailable
from .info import SessionInfo, Status, seconds, utc
from .preview import read_preview
from .records import SessionRecord
from .saga.messagefiles import MessageFiles
from .saga.names import name_from_output_file, output_format, output_path, parse_name
from .saga.worker import WorkerFiles, WorkerReading
from .tmux.client import Tmux, TmuxSession
from .tmux.launch import Launched
from .tmux.panes import pane_summary
from .watch.files import directory_warning

logger = logging.getLogger(__name__)

PANE_GRACE = 10.0  # seconds after a v4 worker's end its pane is read for why it failed


class FileState(NamedTuple):
    """The output file of a session as one scan saw it."""

    size: int
    mtime_ns: int
    inode: int

    @property
    def mtime(self) -> float:
        """Last modification as a Unix timestamp, in whole seconds as the JSON shows it."""
        return float(self.mtime_ns // 1_000_000_000)


class Discovery:
    """Finds the SAGA sessions of one tmux server and one output directory.

    ``scan()`` blocks (a subprocess and file I/O): the server runs it off the event loop.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        tmux: Tmux,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.tmux = tmux
        self.clock = clock
        self.memory: dict[str, SessionRecord] = {}
        self.changed = False  # memory changed since the caller last saved it
        self.tmux_error: str | None = None
        self.output_dir_exists = False
        #: Why the output directory is not private to this user, or ``None``.
        self.output_dir_warning: str | None = None
        self._live: dict[str, TmuxSession] = {}
        # Per session: what its SessionInfo was built from, and that SessionInfo.
        self._infos: dict[str, tuple[tuple[object, ...], SessionInfo]] = {}
        self._file_names: dict[str, str | None] = {}
        self._workers = WorkerFiles()  # what each .out says of its worker (the seeds' SAGA)
        self._messages = MessageFiles()  # what each .jsonl says (today's SAGA)
        self._seen: set[str] = set()  # sessions this process has listed
        self._seen_running: set[str] = set()  # sessions this process has seen running

    def remember_launch(self, launched: Launched) -> None:
        """Keep what a launch started (command, cwd, worktree) with the session."""
        record = self.memory.get(launched.name) or SessionRecord(launched.name)
        self.memory[launched.name] = replace(
            record, command=launched.command, cwd=launched.cwd, worktree=launched.worktree
        )
        self.changed = True

    def remember_stop(self, name: str) -> None:
        """Keep that saga_jupyter was asked to stop this session (it ends STOPPED, not ERROR)."""
        record = self.memory.get(name) or SessionRecord(name)
        self.memory[name] = replace(record, stopped=True)
        self.changed = True

    def scan(self) -> list[SessionInfo]:
        """Every SAGA session now, newest first."""
        live = self._scan_tmux()
        files = self._scan_files()
        now = float(int(self.clock()))  # whole seconds, as the JSON shows them
        sessions = [
            self._session(name, live.get(name), files.get(name), now)
            for name in live.keys() | files.keys()
        ]
        for name in self.memory.keys() - live.keys() - files.keys():
            if self.memory[name].last_activity is None:
                # Ended without ever writing its output file: remembered, so still completed.
                sessions.append(self._session(name, None, None, now))
                continue
            del self.memory[name]
            self._infos.pop(name, None)
            self._workers.forget(name)
            self._messages.forget(name)
            self._seen.discard(name)
            self._seen_running.discard(name)
            self.changed = True
            logger.info("session forgotten (no tmux session, no output file): %s", name)
        return sorted(sessions, key=SessionInfo.sort_key)

    def _scan_tmux(self) -> dict[str, TmuxSession]:
        try:
            self._live = {session.name: session for session in self.tmux.list_sessions()}
        except TmuxUnavailable as error:
            # Keep the last answer: a session is not taken for ended because tmux failed.
            self.tmux_error = str(error)
            return self._live
        self.tmux_error = None
        return self._live

    def _scan_files(self) -> dict[str, FileState]:
        files = {}
        self.output_dir_exists = True
        previous, self._file_names = self._file_names, {}
        try:
            with os.scandir(self.output_dir) as entries:
                for entry in entries:
                    filename = entry.name
                    if filename in previous:  # most names repeat: validate each one once
                        name = self._file_names[filename] = previous[filename]
                    else:
                        name = self._file_names[filename] = name_from_output_file(filename)
                    if name is None:
                        continue
                    try:
                        stat = entry.stat(follow_symlinks=False)  # a link is not an output file
                    except OSError:
                        continue  # deleted between listing and stat
                    # A hard link can name any file of the file system here: no output file.
                    if not stat_module.S_ISREG(stat.st_mode) or stat.st_nlink > 1:
                        continue
                    files[name] = FileState(stat.st_size, stat.st_mtime_ns, stat.st_ino)
        except (FileNotFoundError, NotADirectoryError):
            self.output_dir_exists = False  # not created yet: no completed sessions
        except OSError as error:
            logger.warning("cannot list output directory %s: %s", self.output_dir, error)
        self._check_output_dir()
        return files

    def _check_output_dir(self) -> None:
        """Say (once per change) when others could plant files in the output directory."""
        warning = directory_warning(self.output_dir) if self.output_dir_exists else None
        if warning is not None and warning != self.output_dir_warning:
            logger.warning("output directory %s: %s", self.output_dir, warning)
        self.output_dir_warning = warning

    def _session(
        self, name: str, live: TmuxSession | None, file: FileState | None, now: float
    ) -> SessionInfo:
        cached = self._infos.get(name)
        messages = output_format(name) == "messages"
        path = str(output_path(self.output_dir, name))
        revived = messages and live is not None and self._messages.revived(name)
        if file is None:
            preview, worker = None, None
        elif cached is not None and cached[0][3] == file and not revived:  # nothing read
            preview, worker = cached[1].output_preview, cached[1].worker
        elif messages:
            worker = self._messages.read(name, path, file.size, file.inode)
            preview = self._messages.preview(name)
        else:
            preview = read_preview(path, file.size)
            worker = self._workers.read(name, path, file.size, file.inode)
        if messages and live is None and self._unexplained(name, worker, now):
            # Gone without a pipeline_end: stopped from here, or failed (what its pane said).
            record = self.memory.get(name)
            stopped = record is not None and record.stopped
            summary = None if stopped else pane_summary(self.output_dir, name)
            worker = self._messages.ended(name, stopped=stopped, pane_summary=summary)
        memory = self._remember(name, live, file, now, worker if messages else None)
        key = (live is not None, memory.start_time, memory.end_time, file, worker)
        if cached is not None and cached[0] == key:
            return cached[1]
        parts = parse_name(name)
        info = SessionInfo(
            name=name,
            epic_slug=parts.epic,
            story_slug=parts.story,
            status="running" if live else "completed",
            output_file=path,
            output_available=file is not None,
            start_time=utc(memory.start_time),  # the store's timestamps become datetimes here
            end_time=None if live else utc(memory.end_time),
            last_activity=utc(file.mtime) if file else None,
            output_preview=preview,
            worker=worker,
        )
        self._infos[name] = (key, info)
        return info

    def _unexplained(self, name: str, worker: WorkerReading | None, now: float) -> bool:
        """Whether an ended v4 worker's outcome is still to be told (or its pane to be read).

        Its pane's writer may still be writing the last lines when the session is seen gone:
        the pane is read again for a few seconds after the end until it says something.
        """
        if worker is None or worker.outcome is None:
            return True
        record = self.memory.get(name)
        if record is not None and record.stopped and worker.outcome == "ERROR":
            return True  # the stop's note came after a scan that saw the session end
        end = record.end_time if record is not None else None
        return (
            worker.outcome == "ERROR"
            and worker.summary is None
            and (end is None or now - end < PANE_GRACE)
        )

    def _remember(
        self,
        name: str,
        live: TmuxSession | None,
        file: FileState | None,
        now: float,
        told: WorkerReading | None = None,
    ) -> SessionRecord:
        """Update what is remembered of a session from what this scan saw.

        ``told``: what a today's worker's messages say of its start and end
        (``pipeline_start``, ``pipeline_end``), better than a guess when tmux cannot say.
        """
        told_start = seconds(told.started_at) if told is not None else None
        told_end = seconds(told.ended_at) if told is not None else None
        record = self.memory.get(name)
        if name not in self._seen:
            self._seen.add(name)
            self._first_sight(name, record, live, file)
        start, end = (record.start_time, record.end_time) if record else (None, None)
        if live is not None:
            if end is not None:  # the same name runs again
                start = end = None
            if start is None:
                start = live.created if live.created is not None else (told_start or now)
            self._seen_running.add(name)
        else:
            if end is None:
                if name in self._seen_running:  # seen running: it ended just now
                    end = now
                    logger.info("session completed: %s", name)
                else:  # ended unseen (before a restart, say): what it said, or its last write
                    end = told_end or (file.mtime if file else now)
            if start is None:
                start = told_start or (file.mtime if file else end)
        status: Status = "running" if live else "completed"
        activity = file.mtime if file else (record.last_activity if record else None)
        if record is None:
            record = SessionRecord(name, status, start, end, activity)
        elif (record.status, record.start_time, record.end_time, record.last_activity) != (
            status,
            start,
            end,
            activity,
        ):
            record = replace(
                record, status=status, start_time=start, end_time=end, last_activity=activity
            )
        else:
            return record
        self.memory[name] = record
        self.changed = True
        return record

    def _first_sight(
        self,
        name: str,
        record: SessionRecord | None,
        live: TmuxSession | None,
        file: FileState | None,
    ) -> None:
        """Log where a session's times come from: the store (after a restart) or a guess."""
        status = "running" if live else "completed"
        if record is not None and record.start_time is not None:
            logger.info("session recovered from the store (%s): %s", status, name)
        elif live is not None and live.created is not None:
            logger.info("session discovered (%s), start from tmux: %s", status, name)
        else:
            logger.info("session discovered (%s), times guessed from its file: %s", status, name)
