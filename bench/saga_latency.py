"""A today's worker's appended line to the frame holding it: the transcript view beside the raw
view of the same lines, in the same run, on a real server; and a 10 MiB first view through it.
How each is measured: ``bench/README.md``.
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import os
import random
import time
from pathlib import Path
from typing import Any

from bench import MIB, Plan, Report, log, percentile
from bench.logs import DRAIN, END, HEADER, READY, SESSIONS, Lines, Stream, all_set
from bench.messages import messages_jsonl
from saga_jupyter import demo_messages
from tests import harness
from tests.harness import JupyterProcess, TimedSocket

VIEWS = ("raw", "transcript")
STAMP = "@STAMP@"


def assistant_line(text: str) -> bytes:
    """An ``assistant`` text message as the SDK writes it, whose text is ``text``."""
    run = demo_messages.HeadlessRun(random.Random(4), "/home/me/proj/.saga/worktrees/bench")
    message = json.dumps(run.text(text), ensure_ascii=False, separators=(",", ":"))
    return message.encode() + b"\n"


def write_messages(paths: list[str], rate: int, seconds: float, results: Any) -> None:
    """:func:`tests.harness.write_lines` for JSONL: each line an assistant text message, whose
    text (the transcript shows it) carries the sequence number and the write time."""
    head, _, tail = assistant_line(f"{STAMP} {harness.LINE_TEXT}").decode().partition(STAMP)
    fds = [os.open(path, os.O_WRONLY | os.O_APPEND) for path in paths]
    step = 1e9 / (rate * len(fds))
    results.put(("start", 0))
    start, cpu = harness.now_ns(), harness.own_cpu()
    try:
        for k in range(int(rate * seconds) * len(fds)):
            wait = start + k * step - harness.now_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            seq, index = divmod(k, len(fds))
            os.write(fds[index], f"{head}L{seq:07d} {harness.now_ns()}{tail}".encode())
    finally:
        for fd in fds:
            os.close(fd)
    results.put(("end", ((harness.now_ns() - start) / 1e9, harness.own_cpu() - cpu)))


class MessageWriter(harness.Writer):
    """The writer process of :func:`write_messages`."""

    def __init__(self, paths: list[str], rate: int, seconds: float) -> None:
        super().__init__(paths, rate, seconds)
        self.process = multiprocessing.get_context("spawn").Process(
            target=write_messages, args=(paths, rate, seconds, self.results), daemon=True
        )


def session(i: int) -> str:
    """The i-th worker's session name."""
    return f"saga-story-bench-{i}-{1765000000 + i}"


async def viewer(jupyter: JupyterProcess, take: Any, errors: list[str]) -> TimedSocket:
    """A channel client handing each ``logs:data`` frame's text to ``take``."""

    def arrived(message: str, arrival: int) -> None:
        if message.startswith(SESSIONS):  # not parsed: it would delay the next frame's read
            return
        frame = json.loads(message)
        if frame["type"] == "logs:data":
            take(frame["data"], arrival)
        elif frame["type"] == "logs:error":
            errors.append(frame["error"])

    return await harness.timed_connect(jupyter.port, "/api/saga/channels", jupyter.headers,
                                       arrived)  # fmt: skip


def subscribe(socket: TimedSocket, i: int, view: str, offset: int | None = None) -> None:
    """Follow the i-th worker in a view (from its tail, or from ``offset``)."""
    frame: dict[str, Any] = {"type": "subscribe:logs", "sessionName": session(i), "view": view}
    socket.send(json.dumps(frame if offset is None else {**frame, "offset": offset}))


async def latency_run(
    jupyter: JupyterProcess, paths: list[Path], first: str, plan: Plan
) -> dict[str, Any]:
    """One run: a viewer of each view per file, ``first`` the view subscribed first."""
    for i, path in enumerate(paths):
        path.write_bytes(assistant_line(f"{HEADER} {i}"))
    per_file, warmup = int(plan.rate * plan.seconds), int(plan.rate * plan.warmup)
    order = (first, *(view for view in VIEWS if view != first))
    got = {view: [Lines(per_file, warmup) for _ in paths] for view in VIEWS}
    errors: list[str] = []
    sockets: list[TimedSocket] = []
    writer = MessageWriter([str(p) for p in paths], plan.rate, plan.seconds)
    try:
        for i in range(len(paths)):
            for view in order:
                sockets.append(await viewer(jupyter, got[view][i].take, errors))
                subscribe(sockets[-1], i, view)
        everyone = [lines for view in VIEWS for lines in got[view]]
        if not await all_set((lines.ready for lines in everyone), READY):
            raise RuntimeError(f"viewers never saw their file: {errors[:3]}")
        await writer.start()
        cpu = harness.tree_cpu(jupyter.pid)
        seconds, _ = await writer.finished()
        cpu = (harness.tree_cpu(jupyter.pid) - cpu) / seconds
        await all_set((lines.done for lines in everyone), DRAIN)
    finally:
        for socket in sockets:
            socket.close()
        await asyncio.to_thread(writer.stop)
    result: dict[str, Any] = {"cpu": cpu, "errors": errors[:5]}
    for view in VIEWS:
        latencies = [ms for lines in got[view] for ms in lines.latencies]
        late = [math.inf] * ((per_file - warmup) * len(paths) - len(latencies))
        result[view] = latencies + late
        result[f"{view} received"] = sum(lines.received for lines in got[view])
    result["expected"] = per_file * len(paths)
    return result


async def latencies(jupyter: JupyterProcess, workdir: Path, plan: Plan, report: Report) -> None:
    """Every load, each run with the other view subscribed first; p50/p99 rows and notes."""
    report.case = "v4 latency"
    for count in plan.saga_viewers:
        load = f"{count} viewer{'s' * (count > 1)} each view, of {count} file{'s' * (count > 1)}"
        paths = [workdir / "sessions" / f"{session(i)}.jsonl" for i in range(count)]
        runs = []
        for first in plan.saga_order:
            log(f"v4 latency, {load}, {first} subscribed first")
            runs.append(await latency_run(jupyter, paths, first, plan))
        pooled = {view: [ms for run in runs for ms in run[view]] for view in VIEWS}
        mine, theirs = (percentile(pooled[view], 50) for view in ("transcript", "raw"))
        figure = f"p50, line → transcript frame, {load}; peer: raw frame"
        report.add(figure, mine, theirs, "ms", "≤ raw + 1 ms", mine <= theirs + 1)
        mine, theirs = (percentile(pooled[view], 99) for view in ("transcript", "raw"))
        report.add(f"p99, line → transcript frame, {load}; peer: raw frame", mine, theirs, "ms")
        each = {v: ", ".join(f"{percentile(run[v], 50):.2f}" for run in runs) for v in VIEWS}
        got = {v: f"{sum(r[f'{v} received'] for r in runs)}/{sum(r['expected'] for r in runs)}"
               for v in VIEWS}  # fmt: skip
        cpu = max(run["cpu"] for run in runs)
        report.notes.append(
            f"{load}: p50 of each run ({'-'.join(plan.saga_order)} first): transcript "
            f"{each['transcript']}, raw {each['raw']} ms; lines delivered: transcript "
            f"{got['transcript']}, raw {got['raw']}; server up to {cpu:.0%} of a core"
        )
        report.details[f"latency {load}"] = [
            {k: v for k, v in run.items() if k not in VIEWS} for run in runs
        ]


async def first_view(jupyter: JupyterProcess, index: int, plan: Plan, report: Report) -> None:
    """``subscribe:logs`` from byte 0 of a 10 MiB ``.jsonl`` until its last line arrives."""
    times: dict[str, list[float]] = {view: [] for view in VIEWS}
    errors: list[str] = []
    for _ in range(plan.saga_runs):
        for view in VIEWS:
            stream = Stream(END)
            socket = await viewer(jupyter, stream.take, errors)
            try:
                start = harness.now_ns()
                subscribe(socket, index, view, offset=0)
                done = await all_set([stream.found], 60)
                times[view].append((stream.at - start) / 1e6 if done else math.inf)
            finally:
                socket.close()
    mine, theirs = (sorted(times[view])[len(times[view]) // 2] for view in ("transcript", "raw"))
    figure = f"first view through the server: {plan.saga_first_mib} MiB from byte 0, to its "
    figure += "last line; peer: raw view"
    report.add(figure, mine, theirs, "ms", "< 1 s", mine < 1000)
    if errors:
        report.notes.append(f"first view: errors {errors[:3]}")


async def latency(plan: Plan, workdir: Path, tmux: Any, report: Report) -> None:
    """Start the workers and a server; measure."""
    output_dir = workdir / "sessions"
    output_dir.mkdir()
    count = max(plan.saga_viewers)
    for i in range(count):
        tmux.cmd("new-session", "-d", "-s", session(i), "sleep 3600")
        (output_dir / f"{session(i)}.jsonl").write_bytes(assistant_line(f"{HEADER} {i}"))
    big = output_dir / f"{session(count)}.jsonl"
    big.write_bytes(messages_jsonl(plan.saga_first_mib * MIB) + assistant_line(END))
    traits = {"output_dir": output_dir, "tmux_socket_name": tmux.socket_name,
              "state_file": workdir / "state.json"}  # fmt: skip
    with JupyterProcess(workdir, *(f"--SagaJupyterApp.{k}={v}" for k, v in traits.items())) as j:
        await latencies(j, workdir, plan, report)
        await first_view(j, count, plan, report)
