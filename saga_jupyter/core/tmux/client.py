"""Asking tmux: one call per question, arguments as a list, every call with a timeout.

When tmux keeps failing (not installed, hanging, erroring) a small circuit breaker stops asking
for a while, longer each time, and logs once per change of state, not once per call.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from typing import NamedTuple, NoReturn

from ..errors import TmuxUnavailable
from ..saga.names import is_saga_name, parse_name

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 5.0
# What tmux says when nothing listens on the socket: not an error, just no sessions. "server
# exited unexpectedly": its last session ended while we asked (1 ask in ~60 right after a kill).
NO_SERVER_MARKERS = (
    "no server running",
    "error connecting to",
    "No such file or directory",
    "server exited unexpectedly",
)
# How often a call under way looks whether it was closed, and how long a client that exited
# may keep its output open (the tmux server closes its copy a moment later).
SLICE = 0.1
EXIT_GRACE = 1.0
FAILURES_BEFORE_BACKOFF = 3
BACKOFF_FIRST = 2.0
BACKOFF_MAX = 30.0
PANE_FORMAT = "\t".join(
    [
        "#{window_index}",
        "#{window_active}",
        "#{pane_id}",
        "#{pane_index}",
        "#{pane_pid}",
        "#{pane_active}",
        "#{pane_width}",
        "#{pane_height}",
        "#{pane_current_command}",
        "#{window_name}",  # last: the one field that may hold anything
    ]
)


class TmuxSession(NamedTuple):
    """A live SAGA tmux session as one scan saw it."""

    name: str
    created: float | None


class Tmux:
    """A tmux server, addressed by its ``-L`` socket name (``None``: the default server)."""

    def __init__(self, socket_name: str | None = None, timeout: float = CALL_TIMEOUT) -> None:
        self.socket_name = socket_name
        self.timeout = timeout
        self.server_running = False
        self.failures = 0
        self.retry_at = 0.0
        self._last_error = ""
        self.closed = False
        self._running: set[subprocess.Popen[str]] = set()  # calls under way
        self._lock = threading.Lock()
        self._parsed: dict[str, TmuxSession | None] = {}

    @property
    def backoff(self) -> float | None:
        """Seconds until tmux is asked again, while the breaker is open; else ``None``."""
        wait = self.retry_at - time.monotonic()
        return wait if wait > 0 else None

    @property
    def error(self) -> str | None:
        """Why the last call failed (and when tmux is asked again), or ``None`` if it answered."""
        with self._lock:
            failures, error = self.failures, self._last_error
        if not failures:
            return None
        wait = self.backoff
        return error if wait is None else f"{error} (next try in {wait:.0f} s)"

    def command(self, *args: str) -> list[str]:
        """The argument list of a tmux command on this socket."""
        return ["tmux", *(["-L", self.socket_name] if self.socket_name else []), *args]

    def has_session(self, name: str) -> bool:
        """Whether a session of exactly this name runs; :class:`TmuxUnavailable` if unknown."""
        return self.run("has-session", "-t", target(name)).returncode == 0

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one tmux command; raise :class:`TmuxUnavailable` if tmux is missing or hangs."""
        if self.closed:
            raise TmuxUnavailable("stopped: tmux is not asked any more")
        wait = self.backoff
        if wait is not None:
            raise TmuxUnavailable(f"{self._last_error} (next try in {wait:.0f} s)")
        try:
            process = subprocess.Popen(
                self.command(*args),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                start_new_session=True,  # a hung call is killed with whatever it started
            )
        except FileNotFoundError:
            self._failed("tmux is not installed (not found on PATH)")
        except OSError as error:
            self._failed(f"tmux could not be run: {error}")
        with self._lock:
            self._running.add(process)
        try:
            stdout, stderr = self._answer(process)
        finally:
            with self._lock:
                self._running.discard(process)
        if self.closed:
            raise TmuxUnavailable("stopped: tmux is not asked any more")
        self._succeeded()
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def _answer(self, process: subprocess.Popen[str]) -> tuple[str, str]:
        """What the client wrote, once its pipes close; within the timeout or never.

        Never read to end of file after a kill: the client hands its stdout to the tmux
        server, and a stopped server (SIGSTOP) holds it open, in its socket's queue, forever.
        """
        deadline = time.monotonic() + self.timeout
        exited_at: float | None = None
        while True:
            now = time.monotonic()
            try:
                # In slices: a close() from another thread, or an exit, is noticed soon.
                return process.communicate(timeout=max(0.0, min(SLICE, deadline - now)))
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if exited_at is None and process.poll() is not None:
                exited_at = now
            if self.closed:
                error = "stopped: tmux is not asked any more"
            elif exited_at is not None and now - exited_at > EXIT_GRACE:
                error = "tmux exited but its output stayed open (a stopped tmux server?)"
            elif now >= deadline:
                error = f"tmux did not answer within {self.timeout:g} s"
            else:
                continue
            _abandon(process)
            if self.closed:
                raise TmuxUnavailable(error)
            self._failed(error)

    def close(self) -> None:
        """Ask tmux nothing more, and end the calls under way (a stopping server waits for none).

        The tmux server and its sessions are not touched: only our clients of it end.
        """
        with self._lock:
            self.closed = True
            running = list(self._running)
        for process in running:
            with contextlib.suppress(OSError):
                process.kill()

    def _failed(self, error: str) -> NoReturn:
        with self._lock:
            self.failures += 1
            if self.failures == 1:
                logger.warning("tmux unavailable: %s", error)
            if self.failures >= FAILURES_BEFORE_BACKOFF:
                delay = BACKOFF_FIRST * 2 ** (self.failures - FAILURES_BEFORE_BACKOFF)
                self.retry_at = time.monotonic() + min(BACKOFF_MAX, delay)
            self._last_error = error
            self.server_running = False
        raise TmuxUnavailable(error)

    def _succeeded(self) -> None:
        if self.failures:
            with self._lock:
                logger.info("tmux answers again after %d failed calls", self.failures)
                self.failures = 0
                self.retry_at = 0.0

    def list_sessions(self) -> list[TmuxSession]:
        """The live SAGA sessions, from one ``list-sessions`` call; other sessions are dropped."""
        result = self.run("list-sessions", "-F", "#{session_created} #{session_name}")
        if result.returncode != 0:
            if any(marker in result.stderr for marker in NO_SERVER_MARKERS):
                self.server_running = False
                return []
            raise TmuxUnavailable(f"tmux list-sessions failed: {result.stderr.strip()[:200]}")
        self.server_running = True
        # Most lines repeat from one scan to the next: parse each distinct line once. A new
        # dict, swapped in whole: a launch and a scan may list sessions from two threads.
        previous = self._parsed
        parsed = {
            line: previous[line] if line in previous else _session_line(line)
            for line in result.stdout.splitlines()
        }
        self._parsed = parsed
        return [session for session in parsed.values() if session is not None]

    def windows(self, name: str) -> list[dict[str, object]] | None:
        """The windows of a session with their panes, from one call; ``None`` if it is gone."""
        result = self.run("list-panes", "-s", "-t", target(name), "-F", PANE_FORMAT)
        if result.returncode != 0:
            return None
        windows: dict[int, dict[str, object]] = {}
        for line in result.stdout.splitlines():
            fields = line.split("\t", 9)
            if len(fields) != 10:
                continue
            index, w_active, pane_id, p_index, pid, p_active, width, height, command, w_name = (
                fields
            )
            window = windows.setdefault(
                int(index),
                {"index": int(index), "name": w_name, "active": w_active == "1", "panes": []},
            )
            panes = window["panes"]
            assert isinstance(panes, list)
            panes.append(
                {
                    "id": pane_id,
                    "index": int(p_index),
                    "pid": int(pid) if pid.isdigit() else None,
                    "currentCommand": command,
                    "active": p_active == "1",
                    "width": int(width),
                    "height": int(height),
                }
            )
        return [windows[index] for index in sorted(windows)]

    def kill(self, name: str) -> bool:
        """End exactly the session ``name``; ``False`` when it was not running."""
        return self.run("kill-session", "-t", target(name)).returncode == 0

    def version(self) -> str | None:
        """The tmux version (``tmux -V``), or ``None`` when tmux cannot be run."""
        try:
            result = self.run("-V")
        except TmuxUnavailable:
            return None
        return result.stdout.strip().removeprefix("tmux ") or None


def _abandon(process: subprocess.Popen[str]) -> None:
    """Kill a client, reap it (a killed process exits at once) and close its pipes unread."""
    with contextlib.suppress(OSError):
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(EXIT_GRACE)
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()


def _session_line(line: str) -> TmuxSession | None:
    created, _, name = line.partition(" ")
    if not is_saga_name(name):
        return None
    return TmuxSession(name, float(created) if created.isascii() and created.isdigit() else None)


def literal(text: str) -> str:
    """``text`` escaped for an argument tmux expands as a format, so that it means itself.

    tmux expands ``new-session -c`` and ``pipe-pane``'s command: ``#(...)`` would run a
    command and ``#{...}`` be replaced. ``##`` is tmux's ``#``.

    >>> literal("/work/#(id)")
    '/work/##(id)'
    """
    return text.replace("#", "##")


def target(name: str) -> str:
    """The exact-match tmux target of a validated session name (``=name``, never a prefix)."""
    return "=" + parse_name(name).name
