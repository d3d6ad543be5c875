"""Every notebook the package ships runs top to bottom in a real kernel (nbclient), as CI runs it.

The kernel gets the contract's environment variables, the way ``saga-jupyter demo`` hands them
to JupyterLab's kernels, so the notebooks see the sessions of this test's private tmux socket.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from libtmux.server import Server
from nbclient import NotebookClient

from saga_jupyter.demo import LONG_RUNNING, start_demo, stop_demo
from tests.helpers import wait_until

NOTEBOOKS = sorted((Path(__file__).parents[2] / "saga_jupyter" / "notebooks").glob("*.ipynb"))
DONE = "saga__docs__finished-story__1"
KERNEL_TIMEOUT = 60  # seconds; kernel start and each cell, on a busy two-core machine


def run(notebook: Path, output_dir: Path, socket_name: str, cwd: Path) -> nbformat.NotebookNode:
    """Execute ``notebook`` in a fresh python3 kernel; raises on the first failing cell."""
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, timeout=KERNEL_TIMEOUT, startup_timeout=KERNEL_TIMEOUT, kernel_name="python3"
    )
    # A whole environment: jupyter_client uses ``env`` instead of os.environ, not on top of it.
    env = {**os.environ, "SAGA_SESSIONS_DIR": str(output_dir), "SAGA_TMUX_SOCKET": socket_name}
    client.execute(env=env, cwd=str(cwd))
    return nb


def outputs(cell: nbformat.NotebookNode) -> str:
    """A cell's stream, plain-text and error outputs, in order."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
    return "".join(parts)


def cell_of(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """The one code cell whose source contains ``source``."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and source in c.source]
    return cell


def output_of(nb: nbformat.NotebookNode, source: str) -> str:
    """The outputs of the one code cell whose source contains ``source``."""
    return outputs(cell_of(nb, source))


def html_of(nb: nbformat.NotebookNode, source: str) -> str:
    """The HTML a code cell displayed (what a notebook shows of a rich result)."""
    cell = cell_of(nb, source)
    return "".join(o.data.get("text/html", "") for o in cell.outputs if "data" in o)


def test_the_dashboard_notebook_is_found() -> None:
    # An empty glob would parametrize the tests below away, silently.
    assert "dashboard.ipynb" in [path.name for path in NOTEBOOKS]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_runs_on_demo_sessions(
    notebook: Path, server: Server, output_dir: Path, tmp_path: Path
) -> None:
    # Demo workers write agent output all along: what follow() prints comes from them.
    workers = start_demo(output_dir, server.socket_name, 2, [LONG_RUNNING, LONG_RUNNING])
    (output_dir / f"{DONE}.out").write_text("\x1b[32m✔ Story docs/finished-story complete\x1b[0m\n")
    try:
        # Past their plain header: what read_log() shows is coloured, however fast the kernel.
        coloured = lambda: all("\x1b[" in w.output_file.read_text() for w in workers)  # noqa: E731
        wait_until(coloured, timeout=30)
        nb = run(notebook, output_dir, server.socket_name, tmp_path)
    finally:
        stop_demo(workers, server.socket_name)
    if notebook.name != "dashboard.ipynb":
        return  # a new notebook: running without an error is what we know to check
    names = [worker.name for worker in workers]
    # The dashboard is a widget view (a comm), not only its text fallback.
    (view,) = [o for o in nb.cells[0].outputs if "data" in o]
    assert "application/vnd.jupyter.widget-view+json" in view.data
    listed = output_of(nb, "sessions = saga.list_sessions()")
    assert listed.startswith("3 SAGA sessions") and f"<SessionInfo {DONE} completed>" in listed
    assert all(name in listed for name in names)
    # The list shows as a table: a row per session, its status (and the worker's cycle, once
    # the demo worker has begun one).
    table = html_of(nb, "sessions = saga.list_sessions()")
    assert table.startswith('<table class="saga-sessions">') and table.count("<tr>") == 4
    assert all(f"<td>{name}</td><td>running</td><td>" in table for name in names)
    # As a DataFrame (pandas is a test dependency, not the package's), times in UTC.
    frame = html_of(nb, "sessions.to_dataframe()")
    assert "<table" in frame and "start_time" in frame and DONE in frame
    assert "+00:00" in output_of(nb, "sessions.to_dataframe()")
    filtered = output_of(nb, 'status="running"').splitlines()
    assert filtered[0].startswith("running: ") and DONE not in filtered[0]
    assert all(name in filtered[0] for name in names)
    assert "epic docs: 1 sessions, 1 completed" in filtered
    # get_session, then read_log and follow, on the newest running session: a demo worker.
    got = output_of(nb, "saga.get_session(name)")
    assert '"status": "running"' in got and '"outputAvailable": true' in got
    # A short repr; the start time an aware datetime in UTC, its JSON an ISO string with Z.
    assert re.search(
        r"^<SessionInfo saga__\S+ running( cycle \d+)?> started \S+\+00:00$", got, re.M
    )
    assert re.search(r'"startTime": "[0-9T:-]+Z"', got)
    assert "SessionNotFound: no SAGA session named saga__no-such-epic" in got
    assert "\x1b[" in output_of(nb, "read_log(")  # the worker's coloured lines, as written
    followed = output_of(nb, "follow_for(name")
    assert "(followed saga__" in followed
    assert "\x1b[" in followed.split("(followed")[0]  # new output arrived while following


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_runs_without_sessions(notebook: Path, output_dir: Path, tmp_path: Path) -> None:
    # CI may have no tmux server on this socket and an empty directory: no cell may fail.
    nb = run(notebook, output_dir, f"saga-test-none-{os.getpid()}", tmp_path)
    if notebook.name == "dashboard.ipynb":
        assert output_of(nb, "sessions = saga.list_sessions()").startswith("0 SAGA sessions")
        assert output_of(nb, "saga.get_session(name)").startswith("No session to look at.")
