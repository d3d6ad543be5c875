"""Today's SAGA workers (v4, JSON messages): what reading and rendering their ``.jsonl`` costs,
and what it adds to a scan of 500 sessions; the latency is ``bench/saga_latency.py``. How each
is measured: ``bench/README.md``.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

from libtmux.server import Server

from bench import MIB, Plan, Report, log, percentile, saga_growth, saga_latency, worker_output
from bench.messages import messages_jsonl
from bench.sessions import cpu_of, start
from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.saga.messagefiles import MessageFiles
from saga_jupyter.core.saga.transcript import Transcript
from saga_jupyter.core.tmux.client import Tmux
from saga_jupyter.core.watch.tailer import Tailer
from saga_jupyter.server.logstreams import MAX_FRAME_BYTES

# --- reading and rendering, in this process ---------------------------------------------------


def read_all(path: Path) -> None:
    """What :class:`MessageFiles` does with a worker's file first seen: read all of it."""
    stat = path.stat()
    assert MessageFiles().read(path.stem, str(path), stat.st_size, stat.st_ino) is not None


def render_all(path: Path) -> str:
    """What a transcript view from byte 0 does: the tailer's reads, each chunk rendered."""
    transcript, last = Transcript(), ""
    with Tailer(path, 0) as tailer:
        while (chunk := tailer.read(MAX_FRAME_BYTES)) is not None:
            last = transcript.feed(chunk.data, chunk.offset).text or last
            if not chunk.more:
                break
    return last


def parse_all(path: Path) -> None:
    """The floor of any JSONL reader: the file read, split, and ``json.loads`` of every line."""
    for line in path.read_bytes().split(b"\n"):
        if line:
            json.loads(line)


def seconds(action: Any, *args: Any) -> float:
    """Seconds ``action(*args)`` takes."""
    began = time.perf_counter()
    action(*args)
    return time.perf_counter() - began


def reading(plan: Plan, workdir: Path, report: Report) -> None:
    """MiB/s through the reader and the renderer beside the floor; a 10 MiB first view; the
    cost of one appended line beside SAGA's way (every line parsed again on each change)."""
    report.case = "v4 reading"
    path, first = workdir / "saga-story-reading-1.jsonl", workdir / "saga-story-first-1.jsonl"
    path.write_bytes(messages_jsonl(plan.saga_read_mib * MIB))
    first.write_bytes(messages_jsonl(plan.saga_first_mib * MIB, seed=10))
    mib = path.stat().st_size / MIB
    log(f"reading {mib:.0f} MiB of JSONL, {plan.saga_runs} runs each")
    times: dict[str, list[float]] = {"reader": [], "renderer": [], "floor": []}
    for _ in range(plan.saga_runs):  # interleaved: a hiccup of the machine falls on all alike
        times["reader"].append(seconds(read_all, path))
        times["renderer"].append(seconds(render_all, path))
        times["floor"].append(seconds(parse_all, path))
    rate = {key: mib / statistics.median(values) for key, values in times.items()}
    peer = "peer: `json.loads` of every line"
    report.add(f"reader (MessageFiles.read), {mib:.0f} MiB; {peer}", rate["reader"],
               rate["floor"], "MiB/s")  # fmt: skip
    report.add(f"renderer (Tailer + Transcript.feed), {mib:.0f} MiB; {peer}", rate["renderer"],
               rate["floor"], "MiB/s")  # fmt: skip
    assert "pipeline" in render_all(path) or "cycle" in render_all(path)
    views, floors = [], []
    for _ in range(plan.saga_runs):
        views.append(seconds(render_all, first) * 1000)
        floors.append(seconds(parse_all, first) * 1000)
    size = first.stat().st_size / MIB
    figure = f"first view: {size:.0f} MiB rendered from byte 0; {peer}"
    view = statistics.median(views)
    report.add(figure, view, statistics.median(floors), "ms", "< 1 s", view < 1000)
    appended(first, report)
    report.details["reading seconds"] = times


def appended(path: Path, report: Report, lines: int = 200) -> None:
    """An appended line: our read of it and its rendering, beside SAGA's dashboard, which reads
    the whole file again and parses every line on each change (here in Python)."""
    files, transcript = MessageFiles(), Transcript()
    stat = path.stat()
    files.read(path.stem, str(path), stat.st_size, stat.st_ino)
    following = messages_jsonl(256 << 10, seed=7).splitlines(keepends=True)[2:]
    ours, theirs = [], []
    for k in range(lines):
        line = following[k % len(following)]  # what a worker writes next, line after line
        with path.open("ab") as file:
            file.write(line)
        stat = path.stat()
        began = time.perf_counter()
        files.read(path.stem, str(path), stat.st_size, stat.st_ino)
        transcript.feed(line.decode())
        ours.append((time.perf_counter() - began) * 1000)
        if k % 20 == 0:  # the peer's takes ~100 ms: a few suffice
            theirs.append(seconds(parse_all, path) * 1000)
    size = stat.st_size / MIB
    figure = f"an appended line, file of {size:.0f} MiB (read + rendered); peer: SAGA's re-parse"
    report.add(figure, statistics.median(ours), statistics.median(theirs), "ms")


# --- a scan of 500 sessions, half of them today's ---------------------------------------------


def v3_name(i: int) -> str:
    """A seeds'-SAGA session name."""
    return f"saga__epic-{i % 10}__story-{i}__{100000 + i}"


def v4_name(i: int) -> str:
    """A today's-SAGA session name (seconds, as SAGA writes them)."""
    return f"saga-story-story-{i}-{1765000000 + i}"


def populate(tmux: Any, directory: Path, v3: int, v4: int) -> list[Path]:
    """Live sessions with their files: ``.out`` for v3, ``.jsonl`` for v4; the files."""
    directory.mkdir()
    names = [v3_name(i) for i in range(v3)] + [v4_name(i) for i in range(v4)]
    start(tmux, names)
    terminal, messages = worker_output(64 << 10), messages_jsonl(64 << 10)
    paths = []
    for name in names:
        path = directory / (f"{name}.jsonl" if name.startswith("saga-story-") else f"{name}.out")
        path.write_bytes(messages if name.startswith("saga-story-") else terminal)
        paths.append(path)
    return paths


def scans(plan: Plan, workdir: Path, tmux: Any, report: Report) -> None:
    """Per-scan CPU, all v3 beside half v4: steady, and after a line appended to 250 files."""
    report.case = "v4 scan"
    half = plan.saga_sessions // 2
    counts = {"v3": (2 * half, 0), "mixed": (half, half)}
    servers = {side: Server(socket_name=f"{tmux.socket_name}-{side}") for side in ("v3", "mixed")}
    try:
        log(f"scan: {plan.saga_sessions} sessions, all v3, and half v3 half v4")
        sides = {side: (server, populate(server, workdir / side, *counts[side]))
                 for side, server in servers.items()}  # fmt: skip
        discoveries = {side: Discovery(paths[0].parent, Tmux(server.socket_name))
                       for side, (server, paths) in sides.items()}  # fmt: skip
        cold = {side: cpu_of(d.scan, sides[side][0]) for side, d in discoveries.items()}
        steady: dict[str, list[float]] = {side: [] for side in sides}
        grown: dict[str, list[float]] = {side: [] for side in sides}
        # What each worker writes next: the following lines of a realistic output, in turn.
        terminal = worker_output(64 << 10).splitlines(keepends=True)
        messages = messages_jsonl(256 << 10, seed=7).splitlines(keepends=True)[2:]
        for k in range(plan.saga_scans):  # interleaved, so that noise falls on both alike
            for side, discovery in discoveries.items():
                steady[side].append(cpu_of(discovery.scan, sides[side][0]))
            for side, (server, paths) in sides.items():
                for path in paths[-half:]:  # v3: half its files; mixed: every .jsonl
                    with path.open("ab") as file:
                        lines = messages if path.suffix == ".jsonl" else terminal
                        file.write(lines[k % len(lines)])
                grown[side].append(cpu_of(discoveries[side].scan, server))
        listed = {side: len(d.scan()) for side, d in discoveries.items()}
        assert listed == {"v3": 2 * half, "mixed": 2 * half}, listed
        n = 2 * half
        for label, runs in (("steady", steady), (f"after a line appended to {half} files", grown)):
            for q in (50, 95):
                mine, theirs = percentile(runs["mixed"][1:], q), percentile(runs["v3"][1:], q)
                figure = f"scan CPU p{q}, {n} sessions half v4, {label}; peer: all v3"
                report.add(figure, mine, theirs, "ms", "≤ 1.1 x peer", mine <= 1.1 * theirs)
        figure = f"first scan, {n} sessions half v4 (each 64 KiB file read whole); peer: all v3"
        report.add(figure, cold["mixed"], cold["v3"], "ms")
        report.details["scan ms"] = {"steady": steady, "grown": grown, "cold": cold}
    finally:
        for server in servers.values():
            with contextlib.suppress(Exception):
                server.kill()


async def run(plan: Plan, workdir: Path, tmux: Any, report: Report) -> None:
    """Reading; the latency and the reading of growing files on real servers (on ``tmux``);
    the scans (their own servers)."""
    reading(plan, workdir, report)
    await saga_latency.latency(plan, workdir, tmux, report)
    await saga_growth.growth(plan, workdir, tmux, report)
    scans(plan, workdir, tmux, report)
