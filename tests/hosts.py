"""Many hosts on one machine: real Jupyter servers on loopback, each with its own tmux socket,
output directory, port and token; a front server follows them as its ``remotes``.

Shared by the REST, channel, command-line, widget and browser tests of many hosts; the
``hosts`` and ``front`` fixtures (``tests/conftest.py``) start them with these.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from libtmux.server import Server

from tests.helpers import JupyterProcess, start_worker


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


def start_host(tmp_path: Path, name: str, *extra: str, app: str = "server") -> Host:
    """A host called ``name`` with one running worker ``saga__<name>__work__1`` (``app``:
    ``lab`` for JupyterLab).
    """
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
    jupyter = JupyterProcess(tmp_path, *args, app=app)
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


def stop_host(host: Host) -> None:
    """Stop its Jupyter server (thawed first if frozen) and its tmux server."""
    if host.jupyter.process.poll() is None:
        os.kill(host.jupyter.pid, signal.SIGCONT)
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
