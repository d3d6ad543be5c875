"""A server whose tmux server is stopped (SIGSTOP) still stops on SIGTERM, within 10 s.

A stopped tmux server holds its clients' output open: a call that read it to the end would
never return, and a thread left in one keeps the process from exiting.
"""

from __future__ import annotations

import signal
import threading
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path

from libtmux.server import Server

from tests.harness import children
from tests.helpers import JupyterProcess, start_worker, wait_until

NAME = "saga__e__hang__1"


def test_sigterm_stops_a_server_whose_tmux_is_stopped(
    tmp_path: Path, output_dir: Path, server: Server, stop_tmux: Callable[[], int]
) -> None:
    start_worker(server, NAME, output_dir)
    args = (
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={server.socket_name}",
        "--SagaJupyterApp.poll_interval=0.2",
        "--SagaJupyterApp.allow_control=True",
    )
    with JupyterProcess(tmp_path, *args) as jupyter:
        wait_until(lambda: jupyter.get(f"api/saga/sessions/{NAME}")["status"] == "running")
        stop_tmux()

        def ask(path: str, method: str) -> None:
            try:
                jupyter.request(method, path, {} if method == "POST" else None)
            except (OSError, urllib.error.HTTPError):
                pass  # an answer or none: what counts is the server's stop

        # Requests that ask tmux, under way when the stop comes.
        for i in range(8):
            path = f"api/saga/sessions/{NAME}" + ("/stop" if i % 2 else "")
            method = "POST" if i % 2 else "GET"
            threading.Thread(target=ask, args=(path, method), daemon=True).start()
        wait_until(lambda: any(c.startswith("tmux") for _, c in children(jupyter.pid)), 10)
        started = time.monotonic()
        jupyter.process.send_signal(signal.SIGTERM)
        try:
            jupyter.process.wait(10)
        except Exception:
            raise AssertionError("the server still runs 10 s after SIGTERM") from None
        stopped = time.monotonic() - started
    assert stopped < 10, f"the stop took {stopped:.1f} s"
