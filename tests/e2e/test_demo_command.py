"""The README's first command, ``saga-jupyter demo``, as a newcomer runs it, then Ctrl-C.

It runs in a directory of its own, not the repository's: the dashboard notebook comes from the
package, as it does from an installed wheel.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from libtmux.server import Server

from tests.helpers import wait_until

READY = re.compile(r"(http://127\.0\.0\.1:\d+/)api/saga/sessions\?token=(\w+)")
LISTED = re.compile(r"^  (saga\S+) ", re.MULTILINE)  # the workers the demo says it started
PROJECT = re.compile(r"^Their SAGA project, .*: (/\S+)$", re.MULTILINE)


def environment(pid: int) -> dict[str, str]:
    """The environment a process started with."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


def argument(pid: int, prefix: str) -> str:
    """The value of a process's command-line argument ``<prefix><value>``."""
    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    (value,) = [a.removeprefix(prefix) for a in arguments if a.startswith(prefix)]
    return value


def fetch_json(url: str) -> Any:
    """GET a JSON document."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_demo_shows_its_workers_to_the_extension_and_the_kernels(
    server: Server, tmp_path: Path
) -> None:
    output_dir = tmp_path / "sessions"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    command = [
        sys.executable, "-m", "saga_jupyter", "demo", "--workers", "3", "--port", str(port),
        "--output-dir", str(output_dir), "--socket", server.socket_name,
    ]  # fmt: skip
    printed = tmp_path / "printed.txt"
    with printed.open("wb") as out:
        demo = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        ready = wait_until(lambda: READY.search(printed.read_text()), timeout=90)
        assert demo.poll() is None, printed.read_text()
        base, token = ready.groups()
        assert f"{base}lab/tree/dashboard.ipynb?token={token}&saga-panel" in printed.read_text()
        assert f"ssh -N -L {port}:127.0.0.1:{port}" in printed.read_text()  # from afar
        # The notebook opens trusted (signed), no cell marked otherwise.
        notebook = fetch_json(f"{base}api/contents/dashboard.ipynb?token={token}")
        code = [cell for cell in notebook["content"]["cells"] if cell["cell_type"] == "code"]
        assert code and all(cell["metadata"].get("trusted") is True for cell in code)
        started = LISTED.findall(printed.read_text())
        assert len(started) == 3
        # Listed whether still running or ended (one of three dies within seconds, by design).
        sessions = fetch_json(f"{base}api/saga/sessions?token={token}")
        assert {s["name"] for s in sessions} == set(started)
        assert {session.name for session in server.sessions} <= set(started)
        # Today's SAGA workers, writing JSON messages; the first one's file, a line at a time.
        formats = {s["name"]: s["outputFormat"] for s in sessions}
        assert [formats[n] for n in started] == ["messages"] * 3
        *lines, _being_written = (output_dir / f"{started[0]}.jsonl").read_bytes().split(b"\n")
        assert json.loads(lines[0])["subtype"] == "pipeline_start"
        assert all(isinstance(json.loads(line), dict) for line in lines)
        # JupyterLab, and so every kernel it starts, has the demo's settings in its environment.
        (lab,) = subprocess.run(
            ["pgrep", "-P", str(demo.pid)], capture_output=True, text=True, check=True
        ).stdout.split()
        assert environment(int(lab))["SAGA_TMUX_SOCKET"] == server.socket_name
        assert environment(int(lab))["SAGA_SESSIONS_DIR"] == str(output_dir)
        # Its SAGA project, made next to the output directory: the server reads it.
        project = Path(PROJECT.findall(printed.read_text())[0])
        assert project.parent == tmp_path and (project / ".saga" / "epics").is_dir()
        assert environment(int(lab))["SAGA_PROJECT_DIR"] == str(project)
        epics = fetch_json(f"{base}api/saga/epics?token={token}")
        assert sorted((e["id"], e["storyCounts"]["total"]) for e in epics) == [
            ("auth", 3), ("billing", 2),
        ]  # fmt: skip
        stories = fetch_json(f"{base}api/saga/stories?token={token}")
        assert {s["id"]: s["project"] for s in stories} == dict.fromkeys(
            ["auth-login-flow", "auth-password-reset", "auth-session-timeout",
             "billing-invoice-pdf", "billing-tax-rates"], str(project))  # fmt: skip
        # The first worker (auth-login-flow) moves its tasks: the server sees them move.
        login = f"{base}api/saga/stories/auth-login-flow?token={token}"
        wait_until(lambda: fetch_json(login)["status"] != "pending", timeout=60)
        root = Path(argument(int(lab), "--ServerApp.root_dir="))
        assert (root / "dashboard.ipynb").is_file()
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        assert demo.wait(30) == 0, printed.read_text()
    finally:
        if demo.poll() is None:  # a failed check: still let it stop JupyterLab and its workers
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(30)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
    assert not [session.name for session in server.sessions]  # the demo sessions are gone
    assert list(output_dir.iterdir()) == []  # and their output files and store
    assert not root.exists()  # and the notebook directory it made
    assert not project.exists()  # and its SAGA project
    assert sorted(path.name for path in tmp_path.iterdir()) == ["home", "printed.txt", "sessions"]
