"""``Dashboard(server=...)``: a Jupyter server's merged view, its remotes' logs read over REST."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from saga_jupyter.core.remotelog import RemoteLog
from saga_jupyter.core.serverclient import ServerClient
from saga_jupyter.core.serverview import ServerView
from saga_jupyter.core.watch.tailer import Chunk
from saga_jupyter.widgets.dashboard import Dashboard
from saga_jupyter.widgets.serverlog import ServerLogViewer
from tests.helpers import kill_worker, own_threads, start_worker, wait_until
from tests.hosts import Host, listed

FRONT, ALPHA, BETA = "saga__front__work__1", "saga__alpha__work__1", "saga__beta__work__1"


def append(path: Path, data: bytes) -> None:
    """Append ``data`` to a worker's output file, as the worker would."""
    with path.open("ab") as file:
        file.write(data)


@pytest.fixture
def dashboard(front: Host) -> Iterator[Dashboard]:
    """A dashboard of the front server, alpha's worker selected once the list has all three."""
    dashboard = Dashboard(server=front.jupyter.url, token=front.jupyter.token, interval=0.3)
    try:
        wait_until(lambda: len(dashboard.table.sessions) == 3, timeout=15)
        dashboard.select(ALPHA, "alpha")
        yield dashboard
    finally:
        dashboard.close()


def test_it_lists_every_host_and_follows_a_remote_log_byte_by_byte(
    dashboard: Dashboard, hosts: list[Host]
) -> None:
    hosts_of = {info.name: info.host for info in dashboard.table.sessions}
    assert hosts_of == {FRONT: None, ALPHA: "alpha", BETA: "beta"}
    assert "server answering" in dashboard.status.value
    assert "<b>3</b> running" in dashboard.status.value
    viewer = dashboard.viewer
    assert isinstance(viewer, ServerLogViewer) and (viewer.name, viewer.host) == (ALPHA, "alpha")
    wait_until(lambda: viewer.lines == ["started"], timeout=10)
    path = hosts[0].output_dir / f"{ALPHA}.out"
    append(path, b"line 1\n")
    wait_until(lambda: viewer.lines == ["started", "line 1"], timeout=10)
    append(path, b"line 2\nline 3 \xc3")  # a character cut in two by the writes
    wait_until(lambda: viewer.lines == ["started", "line 1", "line 2", "line 3 "], timeout=10)
    append(path, "\xa9\n".encode("latin-1"))
    append(path, b"line 4\n")
    # Anything read twice, or a character broken, would be in the lines for good.
    expected = ["started", "line 1", "line 2", "line 3 é", "line 4"]
    wait_until(lambda: viewer.lines == expected, timeout=10)
    assert viewer.status == "streaming" and viewer.message == ""
    dashboard.select(FRONT)  # the server's own: no host
    assert viewer.host is None
    wait_until(lambda: viewer.lines == ["started"], timeout=10)


def test_one_session_name_on_two_hosts_shows_the_chosen_host_s_log(
    front: Host, hosts: list[Host]
) -> None:
    beta = hosts[1]
    (beta.output_dir / f"{ALPHA}.out").write_text("beta's own\n")
    start_worker(beta.tmux, ALPHA)  # beta runs a session of alpha's worker's name too
    dashboard = Dashboard(server=front.jupyter.url, token=front.jupyter.token, interval=0.3)
    try:
        wait_until(lambda: len(dashboard.table.sessions) == 4, timeout=15)
        assert f'data-key="{ALPHA}@beta"' in dashboard.table.rows.html
        viewer = dashboard.viewer
        for host, text in (("beta", "beta's own"), ("alpha", "started"), ("beta", "beta's own")):
            dashboard.table.rows.selected = f"{ALPHA}@{host}"  # a click on that host's row
            assert dashboard.table.selected == f"{ALPHA}@{host}"
            assert (viewer.name, viewer.host) == (ALPHA, host)
            wait_until(lambda text=text: viewer.lines == [text], timeout=10)
            assert dashboard.timeline.value.count("outline:2px solid") == 1  # its bar only
    finally:
        dashboard.close()


def test_a_truncated_remote_log_starts_over(dashboard: Dashboard, hosts: list[Host]) -> None:
    viewer = dashboard.viewer
    path = hosts[0].output_dir / f"{ALPHA}.out"
    append(path, b"a line long enough that the file shrinks below it\n")
    wait_until(lambda: len(viewer.lines) == 2, timeout=10)
    path.write_bytes(b"after\n")  # truncated, then written: shorter than what was read
    wait_until(lambda: viewer.lines == ["after"], timeout=10)
    assert "truncated" in viewer.message
    append(path, b"more\n")
    wait_until(lambda: viewer.lines == ["after", "more"], timeout=10)


def test_a_frozen_host_keeps_its_text_and_resumes_from_its_offset(
    dashboard: Dashboard, hosts: list[Host]
) -> None:
    viewer = dashboard.viewer
    wait_until(lambda: viewer.lines == ["started"], timeout=10)
    alpha = hosts[0]
    os.kill(alpha.jupyter.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: "alpha is not answering (" in viewer.message, timeout=30)
        assert viewer.lines == ["started"]
        assert "alpha</b> not answering" in dashboard.status.value
        append(alpha.output_dir / f"{ALPHA}.out", b"written while frozen\n")
    finally:
        os.kill(alpha.jupyter.pid, signal.SIGCONT)
    wait_until(lambda: viewer.lines == ["started", "written while frozen"], timeout=40)
    wait_until(lambda: viewer.message == "", timeout=10)


def test_a_wrong_token_says_so_in_the_dashboard(front: Host) -> None:
    dashboard = Dashboard(server=front.jupyter.url, token="wrong", interval=0.3)
    try:
        assert "the token was refused" in dashboard.status.value
        assert "cannot read the server" in dashboard.status.value
        assert dashboard.viewer.name is None
    finally:
        dashboard.close()


def test_closing_it_stops_every_thread(front: Host) -> None:
    before = own_threads()
    dashboard = Dashboard(server=front.jupyter.url, token=front.jupyter.token, interval=0.3)
    wait_until(lambda: dashboard.viewer.name is not None and dashboard.viewer.lines, timeout=15)
    names = {thread.name for thread in own_threads() - before}
    assert any(name.startswith("saga-remotelog-") for name in names), names
    dashboard.close()
    wait_until(lambda: own_threads() == before, timeout=10)  # an ask under way ends first


def test_a_remote_log_is_read_from_its_tail_in_bounded_asks(front: Host, hosts: list[Host]) -> None:
    path = hosts[1].output_dir / f"{BETA}.out"
    append(path, b"".join(b"line %d\n" % index for index in range(100)))  # 890 bytes
    chunks: list[Chunk] = []
    client = ServerClient.of(front.jupyter.url, front.jupyter.token)
    log = RemoteLog(
        client, BETA, "beta", on_chunk=chunks.append, window=100, max_request=16, interval=60
    )
    # Once the front follows beta (it connects to its remotes after it starts).
    wait_until(lambda: any(info["host"] == "beta" for info in listed(front)), timeout=15)
    log.poll()
    assert log.error is None
    text = "".join(chunk.data for chunk in chunks)
    # The last 100 bytes, from the first line that starts in them.
    assert text == "".join(f"line {index}\n" for index in range(88, 100))
    assert chunks[0] == Chunk("", path.stat().st_size - len(text), reset=True)
    assert all(len(chunk.data) <= 16 for chunk in chunks)
    assert log.offset == path.stat().st_size and log.error is None
    append(path, b"line 100\n")
    log.poll()
    assert chunks[-1] == Chunk("line 100\n", path.stat().st_size, reset=False)


def test_load_earlier_asks_the_server_for_the_bytes_before(front: Host, hosts: list[Host]) -> None:
    path = hosts[1].output_dir / f"{BETA}.out"
    path.write_bytes(b"".join(b"line %06d\n" % index for index in range(30000)))  # 330 KB
    view = ServerView(ServerClient.of(front.jupyter.url, front.jupyter.token))
    # beta's worker listed, running: the viewer follows on (one not listed has ended).
    wait_until(lambda: view.refresh() and view.find(BETA, "beta"), timeout=15)
    viewer = ServerLogViewer(view, BETA, "beta", max_lines=40000)
    try:
        wait_until(lambda: viewer.lines and viewer.lines[-1] == "line 029999", timeout=15)
        assert viewer.has_earlier and viewer.lines[0] != "line 000000"  # the tail only
        shown = len(viewer.lines)
        added = viewer.load_earlier(max_bytes=1 << 20, max_lines=30000)
        assert added == 30000 - shown
        assert viewer.lines == [f"line {index:06d}" for index in range(30000)]
        assert viewer.status == "streaming"
    finally:
        viewer.close()


def test_polling_ends_once_the_session_completed_and_its_log_was_read(
    dashboard: Dashboard, hosts: list[Host]
) -> None:
    viewer = dashboard.viewer
    wait_until(lambda: viewer.lines == ["started"], timeout=10)
    append(hosts[0].output_dir / f"{ALPHA}.out", b"last words\n")
    kill_worker(hosts[0].tmux, ALPHA)
    wait_until(lambda: viewer.status == "complete", timeout=20)
    assert viewer.lines == ["started", "last words"]
    wait_until(lambda: not any(t.name.startswith("saga-remotelog-") for t in own_threads()))
