from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from libtmux.server import Server

from saga_jupyter.core.durations import format_duration
from saga_jupyter.core.engine import engine_for
from saga_jupyter.core.info import SessionInfo, utc
from saga_jupyter.core.records import SessionRecord
from saga_jupyter.core.saga.names import parse_name
from saga_jupyter.core.saga.worker import WorkerReading
from saga_jupyter.core.settings import resolve
from saga_jupyter.core.store import MetadataStore
from saga_jupyter.widgets.rows import render_rows
from saga_jupyter.widgets.table import ESM, SessionTable
from tests.helpers import (
    inotify_watches,
    inotify_watches_on,
    kill_worker,
    own_threads,
    start_worker,
    wait_until,
)

NAME = "saga__auth__login__1"
NOW = 1_800_000_000.0


def info(
    name: str, status: str = "running", preview: str | None = "hello", start: float = NOW - 65
) -> SessionInfo:
    parts = parse_name(name)
    epic, story = parts.epic, parts.story
    return SessionInfo(
        name=name,
        epic_slug=epic,
        story_slug=story,
        status=status,  # type: ignore[arg-type]
        output_file=f"/out/{name}.out",
        output_available=preview is not None,
        start_time=start,
        end_time=None if status == "running" else start + 30,
        last_activity=start + 10,
        output_preview=preview,
    )


def row_of(table: SessionTable, name: str) -> str:
    """The HTML of one row of the table, or ``""`` when it is not shown."""
    match = re.search(rf'<tr data-name="{name}".*?</tr>', table.rows.html, re.DOTALL)
    return match.group(0) if match else ""


@pytest.fixture
def table(server: Server, output_dir: Path) -> Iterator[SessionTable]:
    """A live table scanning every 0.2 s."""
    table = SessionTable(output_dir=output_dir, tmux_socket_name=server.socket_name, interval=0.2)
    yield table
    table.close()


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[SessionTable]:
    """A table on an empty directory and no tmux server, fed by update() with a fixed clock."""
    table = SessionTable(
        output_dir=tmp_path / "none", tmux_socket_name="saga-test-no-server", interval=60,
        clock=lambda: NOW,
    )  # fmt: skip
    yield table
    table.close()


def test_rows_appear_complete_and_disappear(
    table: SessionTable, server: Server, output_dir: Path
) -> None:
    assert "No SAGA sessions" in table.rows.html
    start_worker(server, NAME, output_dir)
    wait_until(lambda: "started" in row_of(table, NAME))
    assert 'class="saga-badge saga-running">running<' in row_of(table, NAME)
    assert "data-start=" in row_of(table, NAME)  # a running duration ticks
    kill_worker(server, NAME)
    wait_until(lambda: "saga-completed" in row_of(table, NAME))
    assert "data-start=" not in row_of(table, NAME)
    assert [s.status for s in table.sessions] == ["completed"]
    (output_dir / f"{NAME}.out").unlink()
    wait_until(lambda: not table.sessions)
    assert row_of(table, NAME) == ""
    assert table.summary.value == "0 of 0 sessions"


def test_a_new_output_file_shows_up_before_the_next_scan(server: Server, output_dir: Path) -> None:
    table = SessionTable(output_dir=output_dir, tmux_socket_name=server.socket_name, interval=60)
    try:
        (output_dir / f"{NAME}.out").write_text("done\n")
        wait_until(lambda: row_of(table, NAME), timeout=3)  # the watch, not the 60 s scan
        (output_dir / f"{NAME}.out").unlink()
        wait_until(lambda: not row_of(table, NAME), timeout=3)
    finally:
        table.close()


def test_a_session_over_before_the_kernel_started_keeps_its_stored_times(
    server: Server, output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start, end = 1795343400.0, 1795344000.0
    (output_dir / f"{NAME}.out").write_text("done\n")  # written now: mtime is a poor start
    state_file = tmp_path / "state.json"
    store = MetadataStore(state_file, output_dir=output_dir)
    store.save({NAME: SessionRecord(NAME, "completed", start, end)})
    monkeypatch.setenv("SAGA_STATE_FILE", str(state_file))
    (info,) = engine_for(resolve(output_dir, server.socket_name)).refresh()
    assert (info.start_time, info.end_time) == (utc(start), utc(end))


def test_refresh_scans_now(server: Server, output_dir: Path) -> None:
    table = SessionTable(output_dir=output_dir, tmux_socket_name=server.socket_name, interval=60)
    try:
        start_worker(server, NAME)  # no output file: only a scan of tmux can see it
        table.refresh()
        assert [s.name for s in table.sessions] == [NAME]
        assert "saga-running" in row_of(table, NAME)
    finally:
        table.close()


def test_filters_are_fed_from_the_data(offline: SessionTable) -> None:
    sessions = [
        info("saga__auth__login__3"),
        info("saga__auth__signup__2", "completed"),
        info("saga__billing__invoice__1"),
    ]
    offline.update(sessions)
    assert [value for _, value in offline.epic_filter.options] == ["", "auth", "billing"]
    stories = [value for _, value in offline.story_filter.options]
    assert stories == ["", "invoice", "login", "signup"]
    assert len(offline.shown) == 3
    offline.epic_filter.value = "auth"
    assert [s.name for s in offline.shown] == ["saga__auth__login__3", "saga__auth__signup__2"]
    assert [value for _, value in offline.story_filter.options] == ["", "login", "signup"]
    offline.status_filter.value = "completed"
    assert [s.name for s in offline.shown] == ["saga__auth__signup__2"]
    assert row_of(offline, "saga__auth__login__3") == ""
    assert offline.summary.value == "1 of 3 sessions"
    # The auth sessions go away: the chosen filter holds (and shows nothing) until changed.
    offline.update(sessions[2:])
    assert offline.epic_filter.value == "auth"
    assert offline.shown == []
    assert "No session matches" in offline.rows.html
    offline.epic_filter.value = ""
    offline.status_filter.value = ""
    assert [s.name for s in offline.shown] == ["saga__billing__invoice__1"]


def test_choosing_another_epic_drops_a_story_it_does_not_have(offline: SessionTable) -> None:
    offline.update([info("saga__auth__login__2"), info("saga__billing__invoice__1")])
    offline.story_filter.value = "login"
    offline.epic_filter.value = "billing"
    assert offline.story_filter.value == ""
    assert [s.name for s in offline.shown] == ["saga__billing__invoice__1"]


def test_selecting_a_row(offline: SessionTable) -> None:
    offline.update([info("saga__auth__login__2"), info("saga__billing__invoice__1")])
    chosen: list[str] = []
    offline.on_select(chosen.append)
    offline.rows.selected = "saga__billing__invoice__1"  # what a click does in the front end
    assert offline.selected == "saga__billing__invoice__1"
    assert chosen == ["saga__billing__invoice__1"]
    offline.selected = "saga__auth__login__2"  # and from Python, the front end follows
    assert offline.rows.selected == "saga__auth__login__2"
    assert chosen[-1] == "saga__auth__login__2"
    offline.on_select(chosen.append, remove=True)
    offline.rows.selected = "saga__billing__invoice__1"
    assert len(chosen) == 2


def test_everything_from_a_session_is_escaped(offline: SessionTable) -> None:
    nasty = 'out <script>alert(1)</script>\n<img src=x onerror="alert(2)"> & done'
    offline.update([info(NAME, preview=nasty)])
    row = row_of(offline, NAME)
    assert "<script" not in offline.rows.html and "<img" not in offline.rows.html
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; done</td>" in row
    assert 'title="out &lt;script&gt;alert(1)&lt;/script&gt;\n&lt;img' in row


def test_durations_tick_for_running_sessions_only() -> None:
    sessions = [info(NAME, start=NOW - 65), info("saga__a__b__2", "completed", start=NOW - 65)]
    first = render_rows(sessions, NOW, "")
    later = render_rows(sessions, NOW + 3600, "")
    assert f'<td data-start="{NOW - 65:.0f}">1m 5s</td>' in first
    assert f'<td data-start="{NOW - 65:.0f}">1h 01m</td>' in later
    assert first.count("<td>30s</td>") == later.count("<td>30s</td>") == 1  # completed: fixed
    assert [format_duration(s) for s in (0, 59.9, 60, 3599, 3600, 90061, -5)] == [
        "0s",
        "59s",
        "1m 0s",
        "59m 59s",
        "1h 00m",
        "1d 1h",
        "0s",
    ]


def test_fractional_times_count_from_their_whole_seconds_as_the_panel_does() -> None:
    # A today's worker's times come from its messages, to the millisecond. The panel gets them
    # to the second (the JSON) and counts from there: so must the table, or they differ by 1 s.
    running = info(NAME, start=NOW - 65.3)  # the JSON's start: NOW - 66
    ended = replace(info("saga__a__b__2", "completed", start=NOW - 65.3), end_time=NOW - 35.6)
    rendered = render_rows([running, ended], NOW + 0.5, "")
    assert f'<td data-start="{NOW - 66:.0f}">1m 6s</td>' in rendered  # not 65.8 s cut to 65
    assert "<td>30s</td>" in rendered  # NOW - 66 to NOW - 36, not 29.7 s cut to 29


def test_close_leaves_no_thread_or_watch(server: Server, output_dir: Path) -> None:
    before = own_threads()
    table = SessionTable(output_dir=output_dir, tmux_socket_name=server.socket_name, interval=0.1)
    assert table.engine.running
    assert any(t.name == "saga-engine" for t in own_threads() - before)
    assert inotify_watches_on(output_dir) == inotify_watches(1)
    table.close()
    assert not table.engine.running
    assert own_threads() == before
    assert inotify_watches_on(output_dir) == 0


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_front_end_ticks_durations_as_the_kernel_formats_them(tmp_path: Path) -> None:
    module = tmp_path / "rows.mjs"
    module.write_text(ESM)
    seconds = [0, 59.9, 60, 3599, 3600, 90061, -5]
    script = (
        f"import {{ formatDuration }} from {json.dumps(module.as_uri())};"
        f"console.log(JSON.stringify({json.dumps(seconds)}.map(formatDuration)));"
    )
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(result.stdout) == [format_duration(s) for s in seconds]


def test_outcome_badges_and_the_cycle(offline: SessionTable) -> None:
    blocked = WorkerReading(cycle=4, outcome="BLOCKED", blocker='needs <a> "key"')
    sessions = [
        replace(info("saga__e__blocked__1", "completed"), worker=blocked),
        replace(info("saga__e__failed__2", "completed"), worker=WorkerReading(outcome="ERROR")),
        replace(info("saga__e__done__3", "completed"), worker=WorkerReading(outcome="FINISH")),
        replace(info("saga__e__busy__4"), worker=WorkerReading(cycle=3, last_tool="Bash")),
        info("saga__e__plain__5"),  # not a worker's output: no badge
        # Today's workers: cycle of its limit and cost while running, incomplete once ended.
        replace(info("saga-story-x-6"), worker=WorkerReading(cycle=2, max_cycles=10, cost_usd=1.5)),
        replace(
            info("saga-story-y-7", "completed"),
            worker=WorkerReading(outcome="INCOMPLETE", summary="ran out", cost_usd=6.42),
        ),
    ]
    offline.update(sessions)
    row = lambda name: row_of(offline, name)  # noqa: E731
    assert (
        '<span class="saga-badge saga-outcome saga-outcome-blocked" '
        'title="needs &lt;a&gt; &quot;key&quot;">blocked</span>'
    ) in row("saga__e__blocked__1")
    assert "saga-outcome-error" in row("saga__e__failed__2") and ">failed<" in row(
        "saga__e__failed__2"
    )
    assert '<span class="saga-cycle">cycle 2/10 $1.50</span>' in row("saga-story-x-6")
    assert 'title="ran out">incomplete</span><span class="saga-cycle"> $6.42</span>' in row(
        "saga-story-y-7"
    )
    assert ">finished<" in row("saga__e__done__3")
    assert '<span class="saga-cycle">cycle 3</span>' in row("saga__e__busy__4")
    assert "saga-outcome" not in row("saga__e__plain__5") and "cycle" not in row(
        "saga__e__plain__5"
    )


def test_an_ended_worker_says_why_not_its_last_brace(offline: SessionTable) -> None:
    """A seeds' worker's output ends with its result JSON: the row shows its blocker, a failed
    today's worker's the last line of what its pane said, a finished one its summary."""
    blocked = WorkerReading(outcome="BLOCKED", blocker="which token store?\nmore")
    failed = WorkerReading(outcome="ERROR", summary="[worker] Starting\nError: No task files found")
    done = WorkerReading(outcome="FINISH", summary="All four tasks done.\nDetails")
    offline.update(
        [
            replace(info("saga__e__blocked__1", "completed", preview="}"), worker=blocked),
            replace(info("saga-story-x-2", "completed", preview=None), worker=failed),
            replace(info("saga-story-y-3", "completed", preview="}"), worker=done),
            replace(info("saga__e__busy__4", preview="still\nworking"), worker=WorkerReading()),
        ]
    )
    cell = lambda name: row_of(offline, name).rsplit('class="saga-preview"', 1)[1]  # noqa: E731
    assert ">which token store?</td>" in cell("saga__e__blocked__1")
    assert ">Error: No task files found</td>" in cell("saga-story-x-2")
    assert ">All four tasks done.</td>" in cell("saga-story-y-3")
    assert ">working</td>" in cell("saga__e__busy__4")
