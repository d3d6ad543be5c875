"""Notebook widgets: how long ``SessionTable.update`` takes with 1,000 sessions, in a real kernel.

Run from the repository root (a few seconds):

    .venv/bin/python bench/bench_widgets.py [--sessions 1000] [--updates 200]

The measurement runs inside a real IPython kernel (started with jupyter_client), so every
trait change goes through ipykernel's comm, the session's JSON serialisation and ZeroMQ, as it
does in a notebook. Each update gets a changed list (newest session added, oldest dropped, 20
previews and 4 statuses changed), as the live scan hands it over. The peer, measured in the
same kernel, is the obvious ipywidgets table: one ``HBox`` of ``Label``\\ s per session,
rebuilt on each update. Prints a markdown table and writes it to ``bench/results/widgets.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from typing import Any

from bench_sessions import REPO, commit, log, percentile, publish, raise_on_sigterm

RESULTS = REPO / "bench" / "results" / "widgets.md"
TARGET_MS = 200.0
PEER_UPDATES = 1  # the peer takes a minute or more per update
KERNEL_TIMEOUT = 600

# Runs in the kernel: everything it prints on the last line is the result, as JSON.
KERNEL_CODE = """
import json, sys
sys.path.insert(0, {bench!r})
from bench_widgets import measure
print(json.dumps(measure({sessions}, {updates})))
"""


def session_lists(count: int, updates: int) -> list[list[Any]]:
    """``updates + 1`` lists of ``count`` sessions, each one changed from the one before."""
    from saga_jupyter.core.info import SessionInfo

    now = time.time()

    def make(index: int, version: int) -> SessionInfo:
        epic, story = f"epic-{index % 12}", f"story-{index % 37}"
        # From one version to the next, 1 in 50 previews and 1 in 250 statuses change.
        stamp = (version + index) // 50
        running = ((version + index) // 250 + index) % 3 != 0
        start = now - (100_000 - index) * 7.0
        return SessionInfo(
            name=f"saga__{epic}__{story}__{index}",
            epic_slug=epic,
            story_slug=story,
            status="running" if running else "completed",
            output_file=f"/tmp/saga-sessions/saga__{epic}__{story}__{index}.out",
            output_available=True,
            start_time=start,
            end_time=None if running else start + 600,
            last_activity=start + 300 + stamp,
            output_preview=f"step {stamp} of <task> {index}\n\x1b[32m✓\x1b[0m tests passed",
        )

    lists: list[list[Any]] = []
    made: dict[tuple[int, int, bool], SessionInfo] = {}
    for version in range(updates + 1):
        newest = count + version
        row = []
        for index in range(newest, newest - count, -1):  # newest first, one more each version
            info = make(index, version)
            # An unchanged session is the same object, as Discovery hands it over.
            key = (index, (version + index) // 50, info.status == "running")
            row.append(made.setdefault(key, info))
        lists.append(row)
    return lists


def measure(count: int, updates: int) -> dict[str, Any]:
    """Time the table and the peer in this process (a kernel); milliseconds."""
    import ipywidgets as widgets

    from saga_jupyter.widgets.dashboard import render_timeline
    from saga_jupyter.widgets.table import SessionTable

    lists = session_lists(count, updates)
    # An engine on nothing: the updates below are what the bench feeds it.
    table = SessionTable(output_dir="/nonexistent/saga-bench", tmux_socket_name="saga-bench-none")
    table.update(lists[0])
    times = []
    for sessions in lists[1:]:
        started = time.perf_counter()
        table.update(sessions)
        times.append((time.perf_counter() - started) * 1000)
    filters = []
    for epic in ["epic-3", "", "epic-7", ""] * 5:
        started = time.perf_counter()
        table.epic_filter.value = epic
        filters.append((time.perf_counter() - started) * 1000)
    timeline = []
    for sessions in lists[1:51]:
        started = time.perf_counter()
        render_timeline(sessions, time.time())
        timeline.append((time.perf_counter() - started) * 1000)
    html_bytes = len(table.rows.html.encode())
    table.close()

    box = widgets.VBox()
    peer = []
    for sessions in lists[1 : PEER_UPDATES + 1]:
        started = time.perf_counter()
        old = box.children
        box.children = [
            widgets.HBox(
                [
                    widgets.Label(value)
                    for value in (
                        info.name,
                        info.epic_slug,
                        info.story_slug,
                        info.status,
                        str(info.start_time),
                        str(info.end_time),
                        str(info.last_activity),
                        info.output_preview or "",
                    )
                ]
            )
            for info in sessions
        ]
        for row in old:  # what a correct peer must do too, or leak 9,000 widgets per update
            for label in row.children:
                label.close()
            row.close()
        peer.append((time.perf_counter() - started) * 1000)
    return {
        "update": times,
        "filter": filters,
        "timeline": timeline,
        "peer": peer,
        "html_bytes": html_bytes,
    }


def run_in_kernel(count: int, updates: int) -> dict[str, Any]:
    """Run :func:`measure` in a fresh IPython kernel and return its result."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(REPO))
    lines: list[str] = []
    errors: list[str] = []

    def output(message: dict[str, Any]) -> None:
        content = message["content"]
        if message["msg_type"] == "stream" and content["name"] == "stdout":
            lines.extend(content["text"].splitlines())
        elif message["msg_type"] == "error":
            errors.append("\n".join(content["traceback"]))

    try:
        code = KERNEL_CODE.format(bench=str(REPO / "bench"), sessions=count, updates=updates)
        client.execute_interactive(code, timeout=KERNEL_TIMEOUT, output_hook=output)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    if errors or not lines:
        raise RuntimeError("the kernel failed:\n" + "\n".join(errors))
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def report(result: dict[str, Any], count: int, elapsed: float) -> str:
    """The markdown table."""
    update, peer = result["update"], result["peer"]
    p99 = percentile(update, 99)
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False)
    rows = [
        (
            f"SessionTable.update, {count} sessions, changed list, p50",
            f"{percentile(update, 50):.2f} ms",
            "—",
            "info",
        ),
        (
            f"SessionTable.update, {count} sessions, changed list, p99",
            f"{p99:.2f} ms",
            f"< {TARGET_MS:.0f} ms",
            "pass" if p99 < TARGET_MS else "**FAIL**",
        ),
        (
            "filter change (epic), p50 / p99",
            f"{percentile(result['filter'], 50):.2f} / {percentile(result['filter'], 99):.2f} ms",
            f"< {TARGET_MS:.0f} ms",
            "pass" if max(result["filter"]) < TARGET_MS else "**FAIL**",
        ),
        (
            f"Dashboard timeline render, {count} sessions, p50",
            f"{percentile(result['timeline'], 50):.2f} ms",
            "—",
            "info",
        ),
        (
            f"peer: one ipywidgets HBox of Labels per session, per update ({len(peer)} runs)",
            f"{percentile(peer, 50):.0f} ms (median)",
            f"ours is {percentile(peer, 50) / percentile(update, 50):.0f}x faster",
            "info",
        ),
    ]
    lines = [
        "# bench_widgets",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, commit {commit()}, Python "
        f"{platform.python_version()}, {tmux.stdout.strip() or 'no tmux'}, {elapsed:.0f} s.",
        "",
        f"In a real IPython kernel (comm messages serialised and sent): {len(update)} updates of "
        f"a {count}-session list; the rows' HTML is {result['html_bytes'] / 1024:.0f} KiB.",
        "",
        "| metric | ours | target / peer | result |",
        "|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the bench, print the table, write it to ``bench/results/widgets.md``."""
    raise_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=200)
    args = parser.parse_args(argv)
    started = time.monotonic()
    log(f"measuring {args.updates} updates of {args.sessions} sessions in a kernel")
    result = run_in_kernel(args.sessions, args.updates)
    publish(report(result, args.sessions, time.monotonic() - started), RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
