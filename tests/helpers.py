"""Test helpers: server config, tmux workers, bounded polls (never bare sleeps)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from libtmux.server import Server


def saga_config(server: Server, output_dir: Path, **traits: Any) -> dict[str, Any]:
    """A ``jp_server_config`` enabling the extension on a private tmux socket and output dir."""
    return {
        "ServerApp": {
            "jpserver_extensions": {"saga_jupyter": True},
            "allow_unauthenticated_access": False,
        },
        "SagaJupyterApp": {
            "output_dir": str(output_dir),
            "tmux_socket_name": server.socket_name,
            **traits,
        },
    }


def start_worker(server: Server, name: str, output_dir: Path | None = None) -> None:
    """Start a detached tmux session that runs until killed (writing a line if given a dir)."""
    command = "sleep 600"
    if output_dir is not None:
        command = f"echo started >> {output_dir / (name + '.out')}; sleep 600"
    server.cmd("new-session", "-d", "-s", name, command)


def kill_worker(server: Server, name: str) -> None:
    """End a tmux session by its exact name."""
    server.cmd("kill-session", "-t", f"={name}")


async def wait_for(
    condition: Callable[[], Any | Awaitable[Any]], timeout: float = 5.0, interval: float = 0.02
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        await asyncio.sleep(interval)


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Synchronous :func:`wait_for` for tests without an event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)
