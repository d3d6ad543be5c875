"""Many hosts on one machine: real Jupyter servers on loopback, each with its own tmux socket,
output directory, port and token, merged by a front server through its ``remotes``.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from tests.helpers import JupyterProcess, channel_of, start_worker, wait_for, wait_until


@dataclass
class Host:
    """One Jupyter server with saga_jupyter, its own tmux server and output directory."""

    name: str
    tmux: Server
    output_dir: Path
    token_file: Path
    args: tuple[str, ...]
    jupyter: JupyterProcess

    def restart(self, tmp_path: Path) -> None:
        """Start it again on the same port with the same token (after a kill)."""
        self.jupyter = JupyterProcess(
            tmp_path, *self.args, port=self.jupyter.port, token=self.jupyter.token
        )


def start_host(tmp_path: Path, name: str, *extra: str) -> Host:
    """A host called ``name`` with one running worker ``saga__<name>__work__1``."""
    tmux = Server(socket_name=f"saga-hosts-{secrets.token_hex(4)}")
    output_dir = tmp_path / f"out-{name}"
    output_dir.mkdir()
    start_worker(tmux, f"saga__{name}__work__1", output_dir)
    args = (
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
        f"--SagaJupyterApp.state_file={tmp_path / f'state-{name}.json'}",
        "--SagaJupyterApp.poll_interval=0.3",
        *extra,
    )
    jupyter = JupyterProcess(tmp_path, *args)
    token_file = tmp_path / f"token-{name}"
    token_file.write_text(jupyter.token + "\n")
    return Host(name, tmux, output_dir, token_file, args, jupyter)


def front_config(tmp_path: Path, remotes: list[dict[str, str]]) -> str:
    """A config file naming ``remotes`` (a list of dicts is easier there than on the CLI)."""
    path = tmp_path / "front_config.json"
    path.write_text(json.dumps({"SagaJupyterApp": {"remotes": remotes}}))
    return f"--config={path}"


def remote_of(host: Host) -> dict[str, str]:
    """The ``remotes`` entry of ``host``."""
    return {"name": host.name, "url": host.jupyter.url, "token_file": str(host.token_file)}


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[list[Host]]:
    """Two remotes, ``alpha`` and ``beta``; SIGCONT and stopped at the end whatever happened."""
    started: list[Host] = []
    try:
        for name in ("alpha", "beta"):
            started.append(start_host(tmp_path, name))
        yield started
    finally:
        for host in started:
            if host.jupyter.process.poll() is None:
                os.kill(host.jupyter.pid, signal.SIGCONT)
            host.jupyter.stop()
            host.tmux.kill()


@pytest.fixture
def front(tmp_path: Path, hosts: list[Host]) -> Iterator[Host]:
    """The server whose remotes are ``hosts``, with a worker of its own."""
    host = start_host(tmp_path, "front", front_config(tmp_path, [remote_of(h) for h in hosts]))
    try:
        yield host
    finally:
        host.jupyter.stop()
        host.tmux.kill()


def listed(front: Host, query: str = "") -> list[dict[str, Any]]:
    """The front server's session list."""
    sessions: list[dict[str, Any]] = front.jupyter.get("api/saga/sessions" + query)
    return sessions


def remote_state(front: Host, name: str) -> dict[str, Any]:
    """What the front server's /status says of one remote."""
    remotes = front.jupyter.get("api/saga/status")["remotes"]
    return next(remote for remote in remotes if remote["name"] == name)


def http_error(call: Any) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a request that fails."""
    with pytest.raises(urllib.error.HTTPError) as raised:
        call()
    return raised.value.code, json.loads(raised.value.read())


def test_sessions_of_every_host_in_one_list(front: Host, hosts: list[Host]) -> None:
    wait_until(lambda: len(listed(front)) == 3, timeout=15)
    sessions = listed(front)
    assert {(s["name"], s["host"], s["stale"]) for s in sessions} == {
        ("saga__front__work__1", None, False),
        ("saga__alpha__work__1", "alpha", False),
        ("saga__beta__work__1", "beta", False),
    }
    assert [s["name"] for s in listed(front, "?host=alpha")] == ["saga__alpha__work__1"]
    assert [s["name"] for s in listed(front, "?host=")] == ["saga__front__work__1"]
    assert listed(front, "?host=beta&status=completed") == []
    code, body = http_error(lambda: listed(front, "?host=gamma"))
    assert code == 400 and "gamma" in body["message"]
    states = {r["name"]: r["state"] for r in front.jupyter.get("api/saga/status")["remotes"]}
    assert states == {"alpha": "connected", "beta": "connected"}

    # Detail and log: the remote's own answer, through the front server.
    detail = front.jupyter.get("api/saga/sessions/saga__alpha__work__1?host=alpha")
    assert detail["name"] == "saga__alpha__work__1" and detail["windows"]
    url = front.jupyter.url + "api/saga/sessions/saga__alpha__work__1/log?host=alpha&offset=2"
    request = urllib.request.Request(url, headers=front.jupyter.headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == b"arted\n"
        assert response.headers["X-Log-Offset"] == "2"
        assert response.headers["Content-Type"].startswith("text/plain")
    code, body = http_error(
        lambda: front.jupyter.get("api/saga/sessions/saga__nope__x__1?host=beta")
    )
    assert code == 404 and body["error"] == "Session not found"

    # A remote that refuses control refuses it here too, in its own words.
    code, body = http_error(
        lambda: front.jupyter.request("POST", "api/saga/sessions/saga__alpha__work__1/stop?host=alpha")
    )
    assert code == 403 and "allow_control" in body["message"]
    assert hosts[0].tmux.has_session("saga__alpha__work__1")
