"""In a real kernel: a Dashboard and ten LogViewers share one engine, and a re-run leaks nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel
from libtmux.server import Server

from saga_jupyter.core.watch.dirwatch import watch_kind
from tests.helpers import inotify_watches, is_engine_threads, start_worker

NAMES = [f"saga__engine__story-{index}__{index}" for index in range(10)]

SETUP = """
import json, os, threading, time
import saga_jupyter as saga

def measure():
    inotify = sum(
        os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
        for fd in os.listdir("/proc/self/fd")
        if os.path.exists(f"/proc/self/fd/{fd}")
    )
    return {"threads": threading.active_count(), "inotify": inotify,
            "saga": sorted(t.name for t in threading.enumerate() if t.name.startswith("saga"))}

def wait(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)

before = measure()
"""

# What a notebook cell does; run twice, as a user re-running it would (the old widgets stay).
CELL = """
dashboard = saga.Dashboard(**settings)
viewers = [saga.LogViewer(name, **settings) for name in names]
wait(lambda: all(viewer.lines for viewer in viewers) and dashboard.table.sessions)
made.append((dashboard, viewers))
print(json.dumps(measure()))
"""

CLOSE = """
for dashboard, viewers in made:
    dashboard.close()
    for viewer in viewers:
        viewer.close()
wait(lambda: measure() == before)
print(json.dumps(measure()))
"""


def run(client: Any, code: str) -> Any:
    printed: list[str] = []

    def keep(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
            printed.append(message["content"]["text"])
        assert message["msg_type"] != "error", "\n".join(message["content"]["traceback"])

    reply = client.execute_interactive(code, timeout=60, output_hook=keep)
    assert reply["content"]["status"] == "ok", reply["content"]
    return json.loads("".join(printed)) if printed else None


def test_a_dashboard_and_ten_viewers_run_on_one_engine(server: Server, output_dir: Path) -> None:
    for index, name in enumerate(NAMES):
        (output_dir / f"{name}.out").write_text(f"output of {index}\n")
        if index % 2:
            start_worker(server, name)
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        run(client, SETUP)
        settings = {"output_dir": str(output_dir), "tmux_socket_name": server.socket_name}
        run(client, f"settings = {settings!r}\nnames = {NAMES!r}\nmade = []")
        before = run(client, "print(json.dumps(before))")
        first = run(client, CELL)
        # One thread reading, one scanning (never holding reads up), one reading the
        # directory's events; one inotify (as the kind of watch in force makes them: the
        # polling one has one more, watchdog's observers have more).
        assert is_engine_threads(set(first["saga"]))
        if watch_kind() != "native":  # on Linux watchdog's native observer runs a fifth
            assert first["threads"] - before["threads"] <= 4
        assert first["inotify"] - before["inotify"] == inotify_watches(1)
        again = run(client, CELL)  # the cell re-run: nothing more runs
        assert again == first
        assert run(client, CLOSE) == before
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
