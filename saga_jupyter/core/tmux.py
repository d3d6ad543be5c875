"""Asking tmux: one ``list-sessions`` call per scan, arguments as a list, every call timed out."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass

from .errors import TmuxUnavailable
from .names import is_saga_name

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 5.0
# What tmux says when nothing listens on the socket: not an error, just no sessions.
NO_SERVER_MARKERS = ("no server running", "error connecting to", "No such file or directory")


@dataclass(frozen=True)
class TmuxSession:
    """A live SAGA tmux session as one scan saw it."""

    name: str
    created: float | None


class Tmux:
    """A tmux server, addressed by its ``-L`` socket name (``None``: the default server)."""

    def __init__(self, socket_name: str | None = None, timeout: float = CALL_TIMEOUT) -> None:
        self.socket_name = socket_name
        self.timeout = timeout
        self.server_running = False

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one tmux command; raise :class:`TmuxUnavailable` if tmux is missing or hangs."""
        command = ["tmux"]
        if self.socket_name:
            command += ["-L", self.socket_name]
        command += args
        try:
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError as error:
            raise TmuxUnavailable("tmux is not installed (not found on PATH)") from error
        except subprocess.TimeoutExpired as error:
            raise TmuxUnavailable(f"tmux did not answer within {self.timeout:g} s") from error
        except OSError as error:
            raise TmuxUnavailable(f"tmux could not be run: {error}") from error

    def list_sessions(self) -> list[TmuxSession]:
        """The live SAGA sessions, from one ``list-sessions`` call; other sessions are dropped."""
        try:
            result = self.run("list-sessions", "-F", "#{session_created} #{session_name}")
        except TmuxUnavailable:
            self.server_running = False
            raise
        if result.returncode != 0:
            if any(marker in result.stderr for marker in NO_SERVER_MARKERS):
                self.server_running = False
                return []
            raise TmuxUnavailable(f"tmux list-sessions failed: {result.stderr.strip()[:200]}")
        self.server_running = True
        sessions = []
        for line in result.stdout.splitlines():
            created, _, name = line.partition(" ")
            if is_saga_name(name):
                sessions.append(TmuxSession(name, float(created) if created.isdigit() else None))
        return sessions

    def version(self) -> str | None:
        """The tmux version (``tmux -V``), or ``None`` when tmux cannot be run."""
        try:
            result = self.run("-V")
        except TmuxUnavailable:
            return None
        return result.stdout.strip().removeprefix("tmux ") or None
