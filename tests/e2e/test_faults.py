"""Faults that need the server in a process of its own: a stop timed, a privilege less, a limit.

The rest of the faults run against a server in the test's process: tests/server/test_faults.py.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import threading
import time
import urllib.error
from pathlib import Path

import pytest
from libtmux.server import Server

from saga_jupyter.server.logstreams import MAX_FRAME_BYTES
from tests.harness import Figures, children
from tests.helpers import (
    JupyterProcess,
    channel_of,
    hanging_tmux,
    start_worker,
    wait_until,
    write_in_pieces,
)

NOWHERE = "--SagaJupyterApp.tmux_socket_name=saga-test-no-server-here"
QUICK = "--SagaJupyterApp.poll_interval=0.2"
LINE_BYTES = 10 << 20
SUBSCRIBERS = 8


def test_a_hung_tmux_does_not_hold_up_the_stop(tmp_path: Path, output_dir: Path) -> None:
    args = (f"--SagaJupyterApp.output_dir={output_dir}", NOWHERE, QUICK)
    jupyter = JupyterProcess(tmp_path, *args, env={"PATH": hanging_tmux(tmp_path)})
    try:
        assert jupyter.get("api/saga/status")["tmux"]["available"] is False
        # Ready once the first scan's tmux call gave up; the next one starts within a poll.
        # Stop while it has just started to hang (it would give up after 5 s).
        wait_until(lambda: children(jupyter.pid), timeout=10)
        started = time.monotonic()
        jupyter.process.send_signal(signal.SIGTERM)
        jupyter.process.wait(30)
        stopped = time.monotonic() - started
    finally:
        jupyter.stop()
    # A plain stop takes about 1.5 s here; waiting out the tmux call takes 5 s more.
    assert stopped < 4, f"the stop took {stopped:.1f} s"


def without_file_permission_bypass() -> list[str]:
    """A command prefix under which root, too, is refused a file its mode does not allow."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: nothing refuses root a file")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


async def test_an_unreadable_output_file(tmp_path: Path, output_dir: Path) -> None:
    name = "saga__e__locked__1"
    path = output_dir / f"{name}.out"
    path.write_text("secret\n")
    path.chmod(0)
    (output_dir / "saga__e__open__2.out").write_text("readable\n")
    args = (f"--SagaJupyterApp.output_dir={output_dir}", NOWHERE, QUICK)
    jupyter = JupyterProcess(tmp_path, *args, wrap=without_file_permission_bypass())
    try:
        listed = {s["name"]: s for s in jupyter.get("api/saga/sessions")}
        assert listed.keys() == {name, "saga__e__open__2"}
        assert listed[name]["outputPreview"] is None
        assert listed["saga__e__open__2"]["outputPreview"] == "readable"
        # The log route answers with a JSON error, not a server fault.
        with pytest.raises(urllib.error.HTTPError) as refused:
            jupyter.get(f"api/saga/sessions/{name}/log")
        assert refused.value.code in (403, 404), refused.value.code
        body = json.loads(refused.value.read())
        assert body["error"] and body["message"]
        channel = await channel_of(jupyter)
        frame = await channel.subscribe(name)
        assert frame["type"] == "logs:error" and frame["error"], frame
        # The connection carries on; once readable, the same file streams.
        await channel.send({"type": "ping"})
        assert (await channel.reply())["type"] == "pong"
        path.chmod(0o644)
        frame = await channel.subscribe(name, offset=0)
        assert frame["type"] == "logs:data" and frame["data"] == "secret\n"
        channel.close()
        assert "Traceback" not in jupyter.log()
    finally:
        path.chmod(0o644)
        jupyter.stop()


FSIZE_LIMIT = 64 << 10


def long_name(i: int) -> str:
    """A session name near the 200-character limit: a store record of ~600 bytes."""
    return f"saga__{'epic-' + 'e' * 80}__{'story-' + 's' * 80}-{i}__{i}"


def test_the_store_on_a_full_disk(tmp_path: Path, output_dir: Path) -> None:
    if shutil.which("prlimit") is None:
        pytest.skip("no prlimit to start the server with a file size limit")
    state = tmp_path / "state" / "sessions.json"
    for i in range(3):
        (output_dir / f"{long_name(i)}.out").write_text(f"{i}\n")
    args = (
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.state_file={state}",
        NOWHERE,
        QUICK,
        "--ServerApp.log_level=WARN",  # the console log stays far below the limit
    )
    # Every file the server writes stops growing at FSIZE_LIMIT (EFBIG: a full disk to it);
    # a soft limit, so that this process may lift it later.
    jupyter = JupyterProcess(
        tmp_path, *args, wrap=["prlimit", f"--fsize={FSIZE_LIMIT}:unlimited", "--"]
    )
    try:
        wait_until(lambda: state.exists() and long_name(2) in state.read_text(), timeout=10)
        many = 150  # ~90 KB of records: more than the limit allows
        for i in range(3, 3 + many):
            (output_dir / f"{long_name(i)}.out").write_text(f"{i}\n")

        def failed() -> object:
            return jupyter.get("api/saga/status")["store"]["saveError"]

        error = wait_until(failed, timeout=10)
        assert "too large" in error.lower() or "no space" in error.lower(), error
        before = state.read_bytes()  # what the last write that fitted left
        assert len(json.loads(before)["sessions"]) < 3 + many
        wait_until(lambda: len(jupyter.get("api/saga/sessions")) == 3 + many, timeout=10)
        # Another change, another failed write: the old store stays whole, no temporary left.
        writes = jupyter.get("api/saga/status")["store"]["writes"]
        (output_dir / f"{long_name(999)}.out").write_text("one more\n")
        wait_until(lambda: len(jupyter.get("api/saga/sessions")) == 4 + many, timeout=10)
        assert jupyter.get("api/saga/status")["store"]["writes"] == writes
        assert state.read_bytes() == before, "the store file changed"
        # A write may be under way (its temporary there for a moment): none is left behind.
        wait_until(lambda: [p.name for p in state.parent.iterdir()] == [state.name], timeout=10)
        assert jupyter.log().count("cannot write the metadata store") == 1

        # Space again: the store catches up by itself, with no further change to prompt it.
        unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)  # the soft limit lifted
        resource.prlimit(jupyter.pid, resource.RLIMIT_FSIZE, unlimited)

        def store_written_again_unprompted() -> bool:
            return jupyter.get("api/saga/status")["store"]["saveError"] is None

        wait_until(store_written_again_unprompted, timeout=10)
        records = json.loads(state.read_text())["sessions"]
        assert len(records) == 4 + many
    finally:
        jupyter.stop()


async def test_a_10_mib_line_costs_the_server_bounded_memory(
    tmp_path: Path, output_dir: Path, server: Server
) -> None:
    name = "saga__e__long__1"
    path = output_dir / f"{name}.out"
    path.write_bytes(b"")
    start_worker(server, name)
    args = (
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={server.socket_name}",
        QUICK,
    )
    jupyter = JupyterProcess(tmp_path, *args)
    try:
        wait_until(lambda: jupyter.get("api/saga/sessions")[0]["status"] == "running", 10)
        channels = [await channel_of(jupyter) for _ in range(SUBSCRIBERS)]
        for channel in channels:
            assert (await channel.subscribe(name))["offset"] == 0
        before = peak = Figures.of(jupyter.pid).rss
        line = (b"0123456789abcdef" * (LINE_BYTES // 16))[:LINE_BYTES]  # and no newline
        writer = threading.Thread(
            target=write_in_pieces, args=(path, line, [1 << 16] * (LINE_BYTES >> 16))
        )
        writer.start()
        for channel in channels:
            received = 0
            while received < LINE_BYTES:
                frame = await channel.receive_log(name, timeout=30)
                assert len(frame["data"]) <= MAX_FRAME_BYTES
                received += len(frame["data"])
                peak = max(peak, Figures.of(jupyter.pid).rss)
            assert frame["offset"] == LINE_BYTES
        writer.join()
        # Held per frame, not per line: a copy of the line per subscriber alone is 80 MiB.
        grown = peak - before
        assert grown < 48 << 20, f"the server grew from {before >> 20} to {peak >> 20} MiB"
        for channel in channels:
            channel.close()
    finally:
        jupyter.stop()
