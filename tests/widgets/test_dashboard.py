from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from libtmux.server import Server

from saga_jupyter.core.engine import engine_for
from saga_jupyter.core.saga.worker import WorkerReading
from saga_jupyter.core.settings import resolve
from saga_jupyter.widgets.dashboard import Dashboard, lanes, render_status, render_timeline
from tests.helpers import (
    inotify_watches,
    inotify_watches_on,
    is_engine_threads,
    kill_worker,
    own_threads,
    start_worker,
    wait_until,
)
from tests.widgets.test_table import NOW, info, row_of

FIRST = "saga__auth__login__1"
SECOND = "saga__billing__invoice__2"
DONE = "saga__auth__signup__3"


def bars(timeline: str) -> list[str]:
    """The hover label of every bar of a rendered timeline."""
    return re.findall(r'<div class="saga-bar" data-name="[^"]*" data-label="([^"]*)"', timeline)


def bar(timeline: str, name: str) -> str:
    """The markup of one session's bar."""
    return re.search(rf'<div class="saga-bar" data-name="{name}"[^>]*>', timeline)[0]  # type: ignore[index]


@pytest.fixture
def dashboard(server: Server, output_dir: Path) -> Iterator[Dashboard]:
    """A live dashboard scanning every 0.2 s."""
    dashboard = Dashboard(output_dir=output_dir, tmux_socket_name=server.socket_name, interval=0.2)
    yield dashboard
    dashboard.close()


def test_status_table_and_timeline_follow_the_sessions(
    dashboard: Dashboard, server: Server, output_dir: Path
) -> None:
    wait_until(lambda: "no server running" in dashboard.status.value)
    assert "<b>0</b> running" in dashboard.status.value
    start_worker(server, FIRST, output_dir)
    (output_dir / f"{DONE}.out").write_text("done\n")
    wait_until(lambda: "<b>1</b> running" in dashboard.status.value)
    assert "<b>1</b> completed" in dashboard.status.value
    assert "tmux reachable</b>" in dashboard.status.value
    # The status line is set first, then the table, from the scanning thread.
    wait_until(lambda: row_of(dashboard.table, FIRST) and row_of(dashboard.table, DONE))
    tips = wait_until(lambda: bars(dashboard.timeline.value))  # set just after the status line
    assert len(tips) == 2 and any(tip.startswith("login · running · ") for tip in tips)
    assert ">auth</div>" in dashboard.timeline.value  # grouped by epic
    kill_worker(server, FIRST)
    wait_until(lambda: "<b>2</b> completed" in dashboard.status.value)
    wait_until(lambda: "saga-completed" in row_of(dashboard.table, FIRST))
    (output_dir / f"{FIRST}.out").unlink()
    (output_dir / f"{DONE}.out").unlink()
    wait_until(lambda: dashboard.timeline.value == "")
    assert dashboard.table.sessions == []


def test_the_first_scan_draws_the_timeline(server: Server, output_dir: Path) -> None:
    (output_dir / f"{DONE}.out").write_text("done\n")
    dashboard = Dashboard(output_dir=output_dir, tmux_socket_name=server.socket_name, interval=60)
    try:
        wait_until(lambda: dashboard.viewer.name == DONE)  # chosen by the first scan
        assert wait_until(lambda: bars(dashboard.timeline.value), timeout=2)  # not at 60 s
    finally:
        dashboard.close()


def test_selecting_a_row_switches_the_log_viewer(
    dashboard: Dashboard, server: Server, output_dir: Path
) -> None:
    # The running one first: a scan between the two would otherwise find only DONE, and show it.
    start_worker(server, FIRST, output_dir)
    (output_dir / f"{DONE}.out").write_text("done\n")
    # Nothing chosen yet: the newest running session is shown.
    wait_until(lambda: dashboard.viewer.name == FIRST)
    assert dashboard.table.selected == FIRST
    dashboard.table.rows.selected = DONE  # a click on its row
    assert dashboard.viewer.name == DONE
    assert "outline" in bar(dashboard.timeline.value, DONE)
    assert "outline" not in bar(dashboard.timeline.value, FIRST)
    wait_until(lambda: dashboard.viewer.text == "done")
    dashboard.select(FIRST)
    assert dashboard.viewer.name == FIRST
    assert dashboard.table.rows.selected == FIRST


def test_timeline_bars_run_from_start_to_end_or_now() -> None:
    sessions = [
        info("saga__auth__login__3", start=NOW - 100),
        info("saga__auth__signup__2", "completed", start=NOW - 200),  # ends at NOW - 170
        info("saga__auth__logout__1", "completed", start=NOW - 120),  # after it: same lane
        info("saga__billing__invoice__4", start=NOW - 150),
    ]
    timeline = render_timeline(sessions, NOW)
    assert timeline.index(">auth</div>") < timeline.index(">billing</div>")
    assert len(bars(timeline)) == 4
    # The window is the first start to now: 200 s; running bars reach its right edge.
    assert "left:50.000%;width:50.000%" in timeline
    assert "left:0.000%;width:15.000%" in timeline
    later = render_timeline(sessions, NOW + 200)
    assert "left:25.000%;width:75.000%" in later  # a running bar grows with time
    placed = {item.name: lane for item, lane in lanes(sessions[:3], NOW)}
    # logout overlaps login (-120..-90 and -100..now): login needs a second lane.
    assert placed == {
        "saga__auth__signup__2": 0,
        "saga__auth__logout__1": 0,
        "saga__auth__login__3": 1,
    }
    assert render_timeline([], NOW) == ""


def test_timeline_bars_are_labelled_with_story_status_and_duration() -> None:
    blocked = replace(
        info("saga__search__ranking__2", "completed", start=NOW - 200),
        worker=WorkerReading(cycle=3, outcome="BLOCKED", blocker="which wins?"),
    )
    running = replace(info("saga__auth__login__1", start=NOW - 65), worker=WorkerReading(cycle=2))
    timeline = render_timeline([running, blocked], NOW)
    assert bars(timeline) == [
        "login · running (cycle 2) · 1m 5s",
        "ranking · completed (blocked) · 30s",
    ]
    # Shown on hover, in the theme's colours; the native tooltip says it too, with the name.
    assert ".saga-bar:hover::after { content: attr(data-label)" in timeline
    assert 'title="login · running (cycle 2) · 1m 5s&#10;saga__auth__login__1 · started' in timeline
    assert "background:#ffb300" in bar(timeline, blocked.name)  # blocked: its amber everywhere
    assert "var(--jp-success-color1, #2e7d32)" in bar(timeline, running.name)


def test_timeline_and_status_are_escaped(tmp_path: Path) -> None:
    sessions = [info("saga__auth__login__1")]
    assert "<script" not in render_timeline(sessions, NOW)
    engine = engine_for(resolve(tmp_path / "<b>dir</b>", "saga-test-no-server"))
    engine.tmux_error = "tmux said <script>alert(1)</script>"
    status = render_status(engine, sessions)
    assert "<script" not in status and "&lt;script&gt;" in status
    assert "&lt;b&gt;dir&lt;/b&gt; (missing)" in status
    assert "<b>1</b> running" in status
    assert "blocked or failed" not in status
    blocked = replace(info("saga__auth__login__2"), worker=WorkerReading(outcome="BLOCKED"))
    assert (
        '<b style="color:var(--jp-warn-color1, #ef6c00)">1</b> blocked or failed'
        in render_status(engine, [*sessions, blocked])
    )


def test_close_leaves_no_thread_or_watch(server: Server, output_dir: Path) -> None:
    start_worker(server, FIRST, output_dir)
    before = own_threads()
    dashboard = Dashboard(output_dir=output_dir, tmux_socket_name=server.socket_name, interval=0.1)
    wait_until(lambda: dashboard.viewer.name == FIRST and dashboard.viewer.status == "streaming")
    # One engine for the table, the timeline and the viewer: its thread and its watch's.
    assert is_engine_threads({t.name for t in own_threads() - before})
    assert inotify_watches_on(output_dir) == inotify_watches(1)
    dashboard.close()
    assert own_threads() == before
    assert inotify_watches_on(output_dir) == 0
    assert not dashboard.engine.running
