"""Discovery: one tmux call joined with one listing of the output directory gives every session.

Status follows the contract: ``running`` when a tmux session of exactly that name is alive,
``completed`` when it is not but its output file exists. Start and end times seen once are
remembered (``memory``) so that a session keeps them while it is listed.
"""

from __future__ import annotations

import logging
import os
import stat as stat_module
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .errors import TmuxUnavailable
from .info import SessionInfo
from .launch import Launched
from .names import name_from_output_file, parse_name
from .preview import read_preview
from .tmux import Tmux, TmuxSession

logger = logging.getLogger(__name__)


@dataclass
class Remembered:
    """What discovery keeps about a session between scans."""

    start_time: float | None = None
    end_time: float | None = None
    command: str | None = None
    cwd: str | None = None
    worktree: str | None = None


class FileState(NamedTuple):
    """The output file of a session as one scan saw it."""

    size: int
    mtime_ns: int

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
        self.memory: dict[str, Remembered] = {}
        self.tmux_error: str | None = None
        self.output_dir_exists = False
        self._live: dict[str, TmuxSession] = {}
        # Per session: what its SessionInfo was built from, and that SessionInfo.
        self._infos: dict[str, tuple[tuple[object, ...], SessionInfo]] = {}
        self._file_names: dict[str, str | None] = {}

    def remember_launch(self, launched: Launched) -> None:
        """Keep what a launch started (command, cwd, worktree) with the session."""
        memory = self.memory.setdefault(launched.name, Remembered())
        memory.command, memory.cwd, memory.worktree = (
            launched.command,
            launched.cwd,
            launched.worktree,
        )

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
            del self.memory[name]
            self._infos.pop(name, None)
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
                        stat = entry.stat()
                    except OSError:
                        continue  # deleted between listing and stat, or a dangling link
                    if not stat_module.S_ISREG(stat.st_mode):
                        continue
                    files[name] = FileState(stat.st_size, stat.st_mtime_ns)
        except (FileNotFoundError, NotADirectoryError):
            self.output_dir_exists = False  # not created yet: no completed sessions
        except OSError as error:
            logger.warning("cannot list output directory %s: %s", self.output_dir, error)
        return files

    def _session(
        self, name: str, live: TmuxSession | None, file: FileState | None, now: float
    ) -> SessionInfo:
        memory = self._remember(name, live, file, now)
        key = (live is not None, memory.start_time, memory.end_time, file)
        cached = self._infos.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]  # unchanged: no parsing, no path, no preview
        path = str(self.output_dir / (name + ".out"))
        if file is None:
            preview = None
        elif cached is not None and cached[0][3] == file:
            preview = cached[1].output_preview
        else:
            preview = read_preview(path, file.size)
        parts = parse_name(name)
        info = SessionInfo(
            name=name,
            epic_slug=parts.epic,
            story_slug=parts.story,
            status="running" if live else "completed",
            output_file=path,
            output_available=file is not None,
            start_time=memory.start_time,
            end_time=None if live else memory.end_time,
            last_activity=file.mtime if file else None,
            output_preview=preview,
        )
        self._infos[name] = (key, info)
        return info

    def _remember(
        self, name: str, live: TmuxSession | None, file: FileState | None, now: float
    ) -> Remembered:
        """Update what is remembered of a session's start and end from what this scan saw."""
        memory = self.memory.get(name)
        if memory is None:
            memory = self.memory[name] = Remembered()
            logger.info("session discovered (%s): %s", "running" if live else "completed", name)
        if live is not None:
            if memory.end_time is not None:  # the same name runs again
                memory.start_time = None
                memory.end_time = None
            if memory.start_time is None:
                memory.start_time = live.created if live.created is not None else now
        else:
            if memory.end_time is None:
                if memory.start_time is not None:  # seen running: it ended just now
                    memory.end_time = now
                    logger.info("session completed: %s", name)
                else:  # never seen running: its last write is the best guess
                    memory.end_time = file.mtime if file else now
            if memory.start_time is None:
                memory.start_time = file.mtime if file else memory.end_time
        return memory
