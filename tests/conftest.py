"""Shared fixtures; plain helpers live in ``tests/helpers.py``."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hosts import Host, front_config, remote_of, start_host, stop_host

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """An empty output directory for ``<name>.out`` files."""
    path = tmp_path / "sessions"
    path.mkdir()
    return path


@pytest.fixture
def tmpfs_dir() -> Iterator[Path]:
    """An empty directory on tmpfs (``/dev/shm``), removed afterwards."""
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    path = Path(tempfile.mkdtemp(prefix="saga-test-", dir="/dev/shm"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def saga_app(jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Any]:
    """The started extension (pytest-jupyter does not call start hooks), stopped afterwards."""
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    app = jp_serverapp.extension_manager.extension_points["saga_jupyter"].app
    yield app
    jp_asyncio_loop.run_until_complete(app.stop_extension())


@pytest.fixture
def stop_tmux(server: Any) -> Iterator[Callable[[], int]]:
    """A function that freezes (SIGSTOP) the ``server`` fixture's tmux server; it gives its pid.

    Thawed (SIGCONT) before the ``server`` fixture's teardown asks it to stop.
    """
    stopped: list[int] = []

    def stop() -> int:
        pid = int(server.cmd("display-message", "-p", "#{pid}").stdout[0])
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)
        return pid

    try:
        yield stop
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[Host]]:
    """Two remotes, ``alpha`` and ``beta`` (Jupyter servers), stopped at the end (thawed first)."""
    started: list[Host] = []
    try:
        for name in ("alpha", "beta"):
            started.append(start_host(tmp_path, name))
        yield started
    finally:
        for host in started:
            stop_host(host)


@pytest.fixture
def front(tmp_path: Path, hosts: list[Host]) -> Iterator[Host]:
    """The server whose remotes are ``hosts``, with a worker of its own."""
    host = start_host(tmp_path, "front", front_config(tmp_path, [remote_of(h) for h in hosts]))
    try:
        yield host
    finally:
        stop_host(host)
