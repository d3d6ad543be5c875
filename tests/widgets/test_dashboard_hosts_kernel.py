"""In a real kernel: ``Dashboard(server=...)`` follows a remote's log, and closes cleanly."""

from __future__ import annotations

import os

from jupyter_client.manager import start_new_kernel

from tests.harness import PACKAGE_ROOT
from tests.hosts import Host
from tests.widgets.test_engine_kernel import run

ALPHA = "saga__alpha__work__1"

SETUP = """
import json, threading, time
import saga_jupyter as saga

def wait(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)

def saga_threads():
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("saga"))

before = saga_threads()
"""

OPEN = """
dashboard = saga.Dashboard(server=url, token=token, interval=0.3)
wait(lambda: len(dashboard.table.sessions) == 3)
dashboard.select(name, "alpha")
wait(lambda: dashboard.viewer.lines == ["started"])
print(json.dumps({"file": saga.__file__, "host": dashboard.viewer.host}))
"""

APPENDED = """
wait(lambda: dashboard.viewer.lines == ["started", "from the test"])
refused = saga.Dashboard(server=url, token="wrong", interval=0.3)
print(json.dumps({"refused": refused.status.value}))
"""

CLOSE = """
dashboard.close()
refused.close()
wait(lambda: saga_threads() == before)
print(json.dumps(saga_threads() == before))
"""


def test_a_kernels_dashboard_follows_a_remote_log(front: Host, hosts: list[Host]) -> None:
    environment = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}  # the checkout under test
    manager, client = start_new_kernel(kernel_name="python3", env=environment)
    try:
        run(client, SETUP)
        run(client, f"url, token, name = {front.jupyter.url!r}, {front.jupyter.token!r}, {ALPHA!r}")
        opened = run(client, OPEN)
        assert opened["file"].startswith(PACKAGE_ROOT) and opened["host"] == "alpha"
        with (hosts[0].output_dir / f"{ALPHA}.out").open("a") as file:
            file.write("from the test\n")
        refused = run(client, APPENDED)["refused"]
        assert "the token was refused" in refused
        assert run(client, CLOSE) is True
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
