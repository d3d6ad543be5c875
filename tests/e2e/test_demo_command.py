"""The README's first command, ``saga-jupyter demo``, as a newcomer runs it, then Ctrl-C."""

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

from libtmux.server import Server

from tests.helpers import wait_until

REPO = Path(__file__).parents[2]
READY = re.compile(r"(http://127\.0\.0\.1:\d+/)api/saga/sessions\?token=(\w+)")


def environment(pid: int) -> dict[str, str]:
    """The environment a process started with."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in entries if b"=" in entry)


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
        demo = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        ready = wait_until(lambda: READY.search(printed.read_text()), timeout=90)
        assert demo.poll() is None, printed.read_text()
        base, token = ready.groups()
        landing = f"{base}lab/tree/notebooks/dashboard.ipynb?token={token}&saga-panel"
        assert landing in printed.read_text()
        request = urllib.request.Request(f"{base}api/saga/sessions?token={token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            listed = {session["name"] for session in json.loads(response.read())}
        workers = {session.name for session in server.sessions}
        assert len(workers) == 3 and listed == workers
        # JupyterLab, and so every kernel it starts, has the demo's settings in its environment.
        (lab,) = subprocess.run(
            ["pgrep", "-P", str(demo.pid)], capture_output=True, text=True, check=True
        ).stdout.split()
        assert environment(int(lab))["SAGA_TMUX_SOCKET"] == server.socket_name
        assert environment(int(lab))["SAGA_SESSIONS_DIR"] == str(output_dir)
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
