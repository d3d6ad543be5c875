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


@dataclass(frozen=True)
class FileState:
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
        self._previews: dict[str, tuple[FileState, str | None]] = {}

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
            self._previews.pop(name, None)
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
        try:
            with os.scandir(self.output_dir) as entries:
                for entry in entries:
                    name = name_from_output_file(entry.name)
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
        parts = parse_name(name)
        path = self.output_dir / (name + ".out")
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
        return SessionInfo(
            name=name,
            epic_slug=parts.epic,
            story_slug=parts.story,
            status="running" if live else "completed",
            output_file=str(path),
            output_available=file is not None,
            start_time=memory.start_time,
            end_time=None if live else memory.end_time,
            last_activity=file.mtime if file else None,
            output_preview=self._preview(name, path, file),
        )

    def _preview(self, name: str, path: Path, file: FileState | None) -> str | None:
        if file is None:
            self._previews.pop(name, None)
            return None
        cached = self._previews.get(name)
        if cached is not None and cached[0] == file:
            return cached[1]
        preview = read_preview(path, file.size)
        self._previews[name] = (file, preview)
        return preview
