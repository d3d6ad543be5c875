"""The extension's domain verbs: list, get, detail, status, launch, stop, attach.

As jupyter_server_terminals' manager holds the terminals' logic, this holds the sessions':
handlers only translate HTTP to these verbs and back.

Reads are served from the poller's state, never computed per request; anything that blocks
(tmux, git, file I/O) runs off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..core.errors import (
    ControlDisabled,
    InvalidRequest,
    SessionNotFound,
    SessionNotRunning,
    TmuxUnavailable,
)
from ..core.info import STATUSES, SessionInfo, iso
from ..core.inputs import load_json
from ..core.saga.names import parse_name
from ..core.saga.worker import OUTCOMES, attention_rank
from ..core.tmux.client import target
from ..core.tmux.launch import launch, parse_launch
from .logstreams import LogStreams
from .poller import Poller, in_daemon_thread, newest

T = TypeVar("T")
# Requests' tmux calls under way at once; more wait on the event loop, holding no thread.
TMUX_CALLS = 4


class SessionManager:
    """Every verb on the SAGA sessions of one extension."""

    def __init__(
        self,
        poller: Poller,
        log_streams: LogStreams,
        clients: Callable[[], int],
        *,
        allow_control: bool,
        max_sessions: int,
        log: logging.Logger,
    ) -> None:
        self.poller = poller
        self.log_streams = log_streams
        self.clients = clients  # how many channel connections are open
        self.allow_control = allow_control
        self.max_sessions = max_sessions
        self.log = log
        self._launch_lock = asyncio.Lock()  # one launch at a time: max_sessions holds
        self._tmux_calls = asyncio.Semaphore(TMUX_CALLS)

    async def _tmux(self, function: Callable[..., T], *args: Any) -> T:
        """Run a call that asks tmux on a daemon thread of its own, a few at a time.

        Never in the shared executor: file reads and log streams would queue behind a tmux
        that hangs, and a thread stuck there would keep a stopping server alive.
        """
        async with self._tmux_calls:
            return await in_daemon_thread(functools.partial(function, *args), "saga-tmux")

    def get(self, name: str) -> SessionInfo:
        """The session called ``name``; ``SessionNotFound`` (or ``InvalidSessionName``)."""
        parse_name(name)
        info = self.poller.find(name)
        if info is None:
            raise SessionNotFound(f"no SAGA session named {name}")
        return info

    def sessions(
        self,
        status: str | None = None,
        epic: str | None = None,
        story: str | None = None,
        outcome: str | None = None,
        sort: str | None = None,
    ) -> tuple[bytes | list[dict[str, Any]], int]:
        """The sessions matching every filter, newest first, and how many match.

        Unfiltered, the list is the poller's encoded body. It holds the newest
        :data:`~.poller.MAX_LISTED` and every running one (see :func:`~.poller.newest`).
        ``sort="attention"``: of those, blocked, then failed sessions first (see
        :data:`ATTENTION`).
        """
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"status must be 'running' or 'completed', not {status[:40]!r}")
        if outcome is not None and outcome not in OUTCOMES:
            raise InvalidRequest(f"outcome must be one of {', '.join(OUTCOMES)}: {outcome[:40]!r}")
        if sort not in (None, "start", "attention"):
            raise InvalidRequest(f"sort must be 'start' or 'attention', not {sort[:40]!r}")
        poller = self.poller
        if status is epic is story is outcome is None and sort != "attention":
            return poller.sessions_body, poller.total
        found = [
            (info, body)
            for info, body in zip(poller.sessions, poller.sessions_json, strict=True)
            if info.matches(status, epic, story)
            and (outcome is None or (info.worker is not None and info.worker.outcome == outcome))
        ]
        listed = newest(found)
        if sort == "attention":
            listed.sort(key=lambda pair: attention_rank(pair[0]))  # stable: newest first within
        return [body for _, body in listed], len(found)

    async def detail(self, name: str) -> dict[str, Any]:
        """One session's SessionInfo, what launched it, and its tmux windows while running."""
        info = self.get(name)
        body = info.to_json()
        discovery = self.poller.discovery
        record = discovery.memory.get(name)
        if record is not None:
            body.update(
                id=record.id, command=record.command, cwd=record.cwd, worktree=record.worktree
            )
        body["windows"] = []
        if info.status == "running":
            try:
                error = self.tmux_error()
                if error is not None:  # failing now: do not wait for it again
                    raise TmuxUnavailable(error)
                body["windows"] = await self._tmux(discovery.tmux.windows, name) or []
            except TmuxUnavailable as error:
                body["windows"] = None
                body["tmuxError"] = str(error)
        return body

    def tmux_error(self) -> str | None:
        """Why tmux failed at the last scan or the last call (the breaker open), or ``None``."""
        discovery = self.poller.discovery
        return discovery.tmux_error or discovery.tmux.error

    def status(self) -> dict[str, Any]:
        """Health of tmux, the store, the output directory and the channel."""
        poller = self.poller
        discovery, store = poller.discovery, poller.store
        running = sum(1 for info in poller.sessions if info.status == "running")
        tmux_error = self.tmux_error()
        return {
            "tmux": {
                "available": tmux_error is None,
                "serverRunning": discovery.tmux.server_running,
                "version": poller.tmux_version,
                "socketName": discovery.tmux.socket_name,
                "error": tmux_error,
                "backoff": discovery.tmux.backoff,
            },
            "store": {
                "path": str(store.state_file),
                "error": store.last_error,
                "backup": str(store.backup_path) if store.backup_path else None,
                "saveError": store.save_error,
                "memoryOnly": store.refusal is not None,
                "writes": poller.store_writes,
            },
            "outputDir": str(discovery.output_dir),
            "outputDirExists": poller.output_dir_exists,
            "outputDirWarning": poller.output_dir_warning,
            "sessions": {"running": running, "completed": len(poller.sessions) - running},
            "lastPoll": iso(poller.last_poll),
            "pollInterval": poller.interval,
            "clients": self.clients(),
            "logStreams": len(self.log_streams),
            "allowControl": self.allow_control,  # the JupyterLab panel shows stop/attach by it
        }

    def require_control(self) -> None:
        """Refuse (403) unless the operator enabled control."""
        if not self.allow_control:
            raise ControlDisabled(
                "control is disabled: start Jupyter with --SagaJupyterApp.allow_control=True"
            )

    async def launch(self, body: bytes, root_dir: Path | None) -> SessionInfo:
        """Start a worker from a launch request's JSON body; its SessionInfo once listed.

        Control is checked before the body is read: a disabled server answers 403 to any body.
        """
        self.require_control()
        parsed = load_json(body or b"null", "the body")
        request = await asyncio.to_thread(parse_launch, parsed, root_dir)
        poller = self.poller
        async with self._launch_lock:
            launched = await self._tmux(
                launch, request, poller.discovery.tmux, poller.discovery.output_dir,
                self.max_sessions,
            )  # fmt: skip
            poller.launched(launched)
            await poller.request_scan()
        return self.get(launched.name)

    async def stop(self, name: str, user: str) -> None:
        """Kill exactly that tmux session; it turns completed (also when it had ended)."""
        self.require_control()
        if self.get(name).status == "running":
            self.poller.stopping(name)  # before the kill: the scan that sees it end knows why
        if await self._tmux(self.poller.discovery.tmux.kill, name):
            self.log.info("saga_jupyter: session stopped by %s: %s", user, name)
        await self.poller.request_scan()

    def attach_command(self, name: str) -> list[str]:
        """The command of a terminal attached to the running session ``name``."""
        self.require_control()
        if self.get(name).status != "running":
            raise SessionNotRunning(f"{name} is not running")
        attach = self.poller.discovery.tmux.command("attach-session", "-t", target(name))
        # Unset TMUX: a server started inside tmux must not nest the attach into that client.
        return ["env", "-u", "TMUX", *attach]
