"""The metadata store and session detail: write cost, idle writes, detail latency.

Run from the repository root (about 15 s):

    .venv/bin/python bench/bench_store.py

Targets (issue 5): a store write with 1,000 sessions under 10 ms; zero writes across 100 polls
when nothing changed; detail (windows and panes) of a running session under 20 ms. Uses a
private tmux socket and temporary directories, removed at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench_sessions import (
    DEFAULT_POLL,
    REPO,
    TmuxServer,
    ms,
    percentile,
    publish,
    raise_on_sigterm,
)

from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.store import MetadataStore, SessionRecord
from saga_jupyter.core.tmux import Tmux
from saga_jupyter.server.poller import Poller

RESULTS = REPO / "bench" / "results" / "store.md"


def timing(metric: str, samples: list[float], limit: float) -> list[tuple[str, str, str, bool]]:
    """p50 and p99 rows of a timing against its limit."""
    return [
        (f"{metric}, {name}", ms(value), f"< {limit * 1e3:.0f} ms", value < limit)
        for name, value in (("p50", statistics.median(samples)), ("p99", percentile(samples, 99)))
    ]


def records(count: int) -> dict[str, SessionRecord]:
    made = {}
    for i in range(count):
        name = f"saga__epic-{i % 10}__story-{i}__{100000 + i}"
        command = f"claude -p 'work on story {i}'" if i % 3 == 0 else None
        made[name] = SessionRecord(
            name, "running", 1_795_000_000.0 + i, None, 1_795_000_100.0 + i, command
        )
    return made


def bench_writes(directory: Path) -> list[tuple[str, str, str, bool]]:
    full, one = [], []
    for k in range(30):
        sessions = records(1000)  # new records: every line encoded
        store = MetadataStore(directory / f"full-{k}.json")
        started = time.perf_counter()
        store.save(sessions)
        full.append(time.perf_counter() - started)
    store = MetadataStore(directory / "changing.json")
    store.save(sessions)
    names = list(sessions)
    for k in range(30):
        name = names[k]
        sessions[name] = dataclasses.replace(sessions[name], end_time=1_796_000_000.0)
        started = time.perf_counter()
        store.save(sessions)
        one.append(time.perf_counter() - started)
    size = (directory / "changing.json").stat().st_size
    floor = []  # what the disk alone costs: the same bytes, written and synced twice
    content = (directory / "changing.json").read_bytes()
    for _ in range(30):
        started = time.perf_counter()
        with (directory / "floor.json").open("wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        directory_fd = os.open(directory, os.O_RDONLY)
        os.fsync(directory_fd)
        os.close(directory_fd)
        floor.append(time.perf_counter() - started)
    return [
        *timing("store write, 1,000 sessions, all new", full, 0.010),
        *timing("store write, 1,000 sessions, one changed", one, 0.010),
        (
            "disk floor: the same bytes written, 2 fsyncs, p50",
            ms(statistics.median(floor)),
            "-",
            True,
        ),
        ("store file size, 1,000 sessions", f"{size / 1024:.0f} KiB", "-", True),
    ]


def bench_polls_and_detail(directory: Path, tmux: TmuxServer) -> list[tuple[str, str, str, bool]]:
    out = directory / "out"
    out.mkdir()
    names = [f"saga__bench__s{i}__1" for i in range(200)]
    tmux.new_sessions(names)
    for name in names[::2]:
        (out / f"{name}.out").write_text("working\n" * 20)
    (out / "saga__bench__done__2.out").write_text("finished\n")
    discovery = Discovery(out, Tmux(tmux.socket))
    # The server's own scan-and-save step, as each poll runs it.
    store = MetadataStore(directory / "polls.json", output_dir=out)
    poller = Poller(discovery, store, DEFAULT_POLL, logging.getLogger())
    poller._scan_blocking()  # first sight: one write expected
    writes = poller.store_writes
    for _ in range(100):
        poller._scan_blocking()
    idle_writes = poller.store_writes - writes
    # Detail: three windows, two panes each, of one running session.
    target = f"={names[0]}"
    tmux.run("split-window", "-d", "-t", f"{target}:", "sleep 3600")
    for _ in range(2):
        tmux.run("new-window", "-d", "-t", f"{target}:", "sleep 3600")
    latencies = []
    for _ in range(50):
        started = time.perf_counter()
        windows = discovery.tmux.windows(names[0])
        latencies.append(time.perf_counter() - started)
    assert windows is not None and len(windows) == 3
    return [
        ("store writes on first sight of 201 sessions", str(writes), "1", writes == 1),
        ("store writes across 100 polls, nothing changed", str(idle_writes), "0", idle_writes == 0),
        *timing("session detail (3 windows, 4 panes, one tmux call)", latencies, 0.020),
    ]


def main() -> None:
    raise_on_sigterm()
    tmux = TmuxServer(f"saga-bench-store-{os.getpid()}")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        try:
            rows = bench_writes(directory) + bench_polls_and_detail(directory, tmux)
        finally:
            tmux.kill()
    load = os.getloadavg()[0]
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M')}, load average {load:.2f}, {os.cpu_count()} CPUs",
        "",
        "| metric | ours | target | result |",
        "|---|---|---|---|",
        *(f"| {m} | {v} | {t} | {'pass' if ok else '**FAIL**'} |" for m, v, t, ok in rows),
    ]
    publish("\n".join(lines) + "\n", RESULTS)


if __name__ == "__main__":
    main()
