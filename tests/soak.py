"""The soak: many channel clients, many sessions written at once; every byte once, nothing kept.

From the repository root (5.5 minutes; the suite runs 20 s of it: tests/server/test_soak.py):

    .venv/bin/python -m tests.soak --minutes 5 [--clients 200] [--sessions 50] [--rate 100]

What runs: a real ``jupyter server`` (a subprocess, default ``poll_interval``), a private tmux
server with one ``sleep`` session per output file (so all are running), one writer process
appending ``rate`` whole lines a second to every file, each line carrying its write time, and
bare WebSocket clients (``tests/harness.py``) on this process's loop. Each client follows
``per_client`` sessions: 200 x 2 = 400 subscriptions, 8 a session. Two, not all 50: a browser
tab follows the logs it shows, and two cores must carry the server, the writer and 200 clients;
8 subscribers still have every byte read and sent eight times. Clients join mid-stream, over
the first quarter of the writing; half from byte 0 (a resume), half from the tail window.

Checked: every subscription got its file's bytes from where it started to the end, once, in
order (each frame's ``offset`` follows the last by exactly its bytes; a CRC of all it got
matches the file's), with no reset and no error. The server's RSS, open files, threads and
inotify watches (``/proc``) are read before the clients come (after a warm-up: a small wave of
clients, then session details asked all at once, so that the executor's threads, which never
shrink, exist already), at their peak, and after the clients left: files, threads and watches
back where they were, RSS within ``RSS_SLACK``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from libtmux.server import Server

from tests.harness import Figures, TimedSocket, Writer, own_cpu, timed_connect, tree_cpu
from tests.helpers import JupyterProcess, start_worker, wait_for

RSS_SLACK = 64 << 20
WARMUP_CLIENTS = 20
WARMUP_SECONDS = 2.0
WARMUP_REQUESTS = 24  # at once: more than any executor's threads (32 at most)
JOIN_SHARE = 0.25  # of the writing time, over which the clients join
SAMPLE_PERIOD = 0.5
DRAIN_DEADLINE = 60.0
LINE_RE = re.compile(r"L(\d{7}) (\d+) ")
SESSIONS_FRAME = '{"type": "sessions:updated"'


@dataclass(frozen=True)
class Plan:
    """What a soak does."""

    seconds: float = 20.0  # of writing
    clients: int = 200
    sessions: int = 50
    rate: int = 100  # lines per second per session
    per_client: int = 2  # sessions each client follows

    def follows(self, client: int) -> list[int]:
        """The sessions a client follows: spread so that every session has as many."""
        return [(client * self.per_client + k) % self.sessions for k in range(self.per_client)]


def session_name(i: int) -> str:
    """The SAGA session name of the i-th output file."""
    return f"saga__soak__s{i}__1"


@dataclass
class Subscription:
    """What one client received of one session, checked as it arrives."""

    start: int | None = None  # the byte the subscription started at
    offset: int = 0
    crc: int = 0
    frames: int = 0
    received: int = 0
    problems: list[str] = field(default_factory=list)

    def take(self, frame: dict[str, Any]) -> None:
        """Take one ``logs:*`` frame."""
        if frame["type"] != "logs:data":
            self.problems.append(f"{frame['type']}: {frame.get('error')}")
            return
        data = frame["data"].encode()
        if frame["reset"]:
            self.problems.append(f"reset at {frame['offset']}")
        if self.start is None:
            self.start = self.offset = frame["offset"] - len(data)
        elif frame["offset"] != self.offset + len(data):
            self.problems.append(f"offset {frame['offset']} after {self.offset} + {len(data)}")
        self.offset = frame["offset"]
        self.crc = zlib.crc32(data, self.crc)
        self.frames += 1
        self.received += len(data)

    def check(self, content: bytes) -> list[str]:
        """What is wrong with what arrived, given the file's whole content."""
        problems = list(self.problems)
        if self.start is None:
            return [*problems, "no frame at all"]
        if self.offset != len(content):
            problems.append(f"ended at byte {self.offset} of {len(content)}")
        elif zlib.crc32(content[self.start :]) != self.crc:
            problems.append("the bytes differ from the file's")
        return problems


class Client:
    """One channel connection following a few sessions."""

    def __init__(self, names: list[str], latencies: Counter[int]) -> None:
        self.subscriptions = {name: Subscription() for name in names}
        self.latencies = latencies  # in tenths of a millisecond
        self.socket: TimedSocket | None = None
        self.session_lists = 0

    async def connect(self, jupyter: JupyterProcess, from_start: bool) -> None:
        """Open the channel and subscribe (from byte 0, or the tail window)."""
        headers = {"Authorization": f"token {jupyter.token}"}
        self.socket = await timed_connect(jupyter.port, "/api/saga/channels", headers, self.on_text)
        for name in self.subscriptions:
            frame: dict[str, Any] = {"type": "subscribe:logs", "sessionName": name}
            if from_start:
                frame["offset"] = 0
            self.socket.send(json.dumps(frame))

    def on_text(self, message: str, arrival: int) -> None:
        """Take a frame; time the last whole line of a live one."""
        if message.startswith(SESSIONS_FRAME):
            self.session_lists += 1
            return
        frame = json.loads(message)
        subscription = self.subscriptions.get(frame.get("sessionName"))
        if subscription is None:
            return
        subscription.take(frame)
        data = frame.get("data", "")
        if not frame.get("isInitial") and data.endswith("\n"):
            match = LINE_RE.match(data, data.rfind("\n", 0, -1) + 1)
            if match:
                self.latencies[(arrival - int(match[2])) // 100_000] += 1

    def caught_up(self, sizes: dict[str, int]) -> bool:
        """Whether every subscription has reached the end of its file."""
        return all(s.offset == sizes[name] for name, s in self.subscriptions.items())

    def close(self) -> None:
        """Drop the connection."""
        if self.socket is not None:
            self.socket.close()


@dataclass
class Report:
    """What a soak measured."""

    plan: Plan
    before: Figures
    peak: Figures
    after: Figures
    complete: int = 0  # clients whose every subscription was whole
    problems: list[str] = field(default_factory=list)
    frames: int = 0
    received: int = 0
    written: int = 0
    session_lists: int = 0
    latencies: Counter[int] = field(default_factory=Counter)
    server_cpu: float = 0.0  # share of one core while writing
    client_cpu: float = 0.0
    writing: float = 0.0  # seconds
    drain: float = 0.0  # seconds from the writer's end until every client caught up
    wall: float = 0.0

    @property
    def flat(self) -> bool:
        """Whether open files, threads and watches came back, and RSS stayed within the slack."""
        rss = self.after.rss - self.before.rss
        return self.after.held() == self.before.held() and rss < RSS_SLACK

    def latency_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of frame latency, in milliseconds."""
        tenths = sorted(self.latencies.elements())
        return tenths[round(q * (len(tenths) - 1))] / 10 if tenths else float("nan")


async def soak(plan: Plan, workdir: Path, tmux: Server) -> Report:
    """Run one soak against a server started here; the figures and every problem found."""
    started = time.monotonic()
    output_dir = workdir / "sessions"
    output_dir.mkdir()
    names = [session_name(i) for i in range(plan.sessions)]
    paths = [output_dir / f"{name}.out" for name in names]
    for name, path in zip(names, paths, strict=True):
        path.write_bytes(b"")
        start_worker(tmux, name)
    jupyter = await asyncio.to_thread(
        JupyterProcess,
        workdir,
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
        f"--SagaJupyterApp.state_file={workdir / 'state.json'}",
    )
    try:

        def all_running() -> bool:
            return bool(jupyter.get("api/saga/status")["sessions"]["running"] == plan.sessions)

        await wait_for(all_running, timeout=30, interval=0.2)
        await _warm_up(jupyter, plan, paths)
        before = Figures.of(jupyter.pid)
        report = Report(plan, before, before, before)
        await _main_wave(jupyter, plan, names, paths, report)
        await wait_for(lambda: _idle(jupyter), timeout=30, interval=0.2)
        # Descriptors of closed connections go once the loop has seen them close.
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: _settled(jupyter, before), timeout=10, interval=0.2)
        report.after = Figures.of(jupyter.pid)
    finally:
        await asyncio.to_thread(jupyter.stop)
    report.wall = time.monotonic() - started
    return report


async def _warm_up(jupyter: JupyterProcess, plan: Plan, paths: list[Path]) -> None:
    """A first small wave, gone before the figures are taken: what a server keeps once warm."""
    clients = [
        Client([session_name(i) for i in plan.follows(k)], Counter()) for k in range(WARMUP_CLIENTS)
    ]
    writer = Writer([str(p) for p in paths], plan.rate, WARMUP_SECONDS)
    try:
        for k, client in enumerate(clients):
            await client.connect(jupyter, from_start=k % 2 == 0)
        await writer.start()
        await writer.finished()
    finally:
        for client in clients:
            client.close()
        await asyncio.to_thread(writer.stop)
    await wait_for(lambda: _idle(jupyter), timeout=30, interval=0.2)
    # Log reads at once (the server's executor) and session details (tmux calls, on their own
    # threads): the executor's pool grows to its size now, not during the main wave (it never
    # shrinks: that is not a leak).
    with ThreadPoolExecutor(WARMUP_REQUESTS) as pool:
        details = [
            f"api/saga/sessions/{session_name(i % plan.sessions)}" for i in range(WARMUP_REQUESTS)
        ]
        details += [f"{detail}/log?length=1" for detail in details]
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: list(pool.map(lambda path: _get_raw(jupyter, path), details))
        )


def _get_raw(jupyter: JupyterProcess, path: str) -> bytes:
    """GET a route's bytes with the token (a log is no JSON)."""
    request = urllib.request.Request(jupyter.url + path, headers=jupyter.headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


async def _main_wave(
    jupyter: JupyterProcess, plan: Plan, names: list[str], paths: list[Path], report: Report
) -> None:
    offsets = {path: path.stat().st_size for path in paths}
    clients = [
        Client([names[i] for i in plan.follows(k)], report.latencies) for k in range(plan.clients)
    ]
    writer = Writer([str(p) for p in paths], plan.rate, plan.seconds)
    sampler = asyncio.ensure_future(_sample(jupyter.pid, report))
    try:
        await writer.start()
        server_before = tree_cpu(jupyter.pid)
        client_before = own_cpu()
        gap = plan.seconds * JOIN_SHARE / plan.clients
        for k, client in enumerate(clients):
            await client.connect(jupyter, from_start=k % 2 == 0)
            await asyncio.sleep(gap)  # the clients' pace of joining
        report.writing, _ = await writer.finished()
        report.server_cpu = (tree_cpu(jupyter.pid) - server_before) / report.writing
        report.client_cpu = (own_cpu() - client_before) / report.writing
        written_at = time.monotonic()
        sizes = {name: path.stat().st_size for name, path in zip(names, paths, strict=True)}
        report.written = sum(sizes[n] - offsets[p] for n, p in zip(names, paths, strict=True))
        with contextlib.suppress(AssertionError):  # reported as incomplete below
            await wait_for(
                lambda: all(c.caught_up(sizes) for c in clients),
                timeout=DRAIN_DEADLINE,
                interval=0.1,
            )
        report.drain = time.monotonic() - written_at
    finally:
        sampler.cancel()
        for client in clients:
            client.close()
        await asyncio.to_thread(writer.stop)
    contents = {name: path.read_bytes() for name, path in zip(names, paths, strict=True)}
    for k, client in enumerate(clients):
        problems = [
            f"client {k}, {name}: {problem}"
            for name, subscription in client.subscriptions.items()
            for problem in subscription.check(contents[name])
        ]
        if client.socket is not None and client.socket.closed and not client.caught_up(sizes):
            problems.append(f"client {k}: {client.socket.closed}")
        report.complete += not problems
        report.problems += problems
        report.frames += sum(s.frames for s in client.subscriptions.values())
        report.received += sum(s.received for s in client.subscriptions.values())
        report.session_lists += client.session_lists


async def _sample(pid: int, report: Report) -> None:
    while True:
        report.peak = report.peak.peak(Figures.of(pid))
        await asyncio.sleep(SAMPLE_PERIOD)


def _idle(jupyter: JupyterProcess) -> bool:
    status = jupyter.get("api/saga/status")
    return status["clients"] == 0 and status["logStreams"] == 0


def _settled(jupyter: JupyterProcess, before: Figures) -> bool:
    return Figures.of(jupyter.pid).held() == before.held()


# --- the report -----------------------------------------------------------------------------


def render(report: Report) -> str:
    """The figures as a markdown table, and every problem found (at most 20 shown)."""
    plan = report.plan
    mib = 1 << 20
    subscriptions = plan.clients * plan.per_client
    lines = [
        f"# soak: {plan.clients} clients x {plan.per_client} sessions, {plan.sessions} sessions "
        f"at {plan.rate} lines/s, {plan.seconds:g} s of writing",
        "",
        "| figure | value |",
        "|---|---|",
        f"| clients complete (every byte once, in order) | {report.complete}/{plan.clients} |",
        f"| subscriptions ({subscriptions // plan.sessions} a session) | {subscriptions} |",
        f"| bytes written (all files, the main wave) | {report.written / mib:.1f} MiB |",
        f"| logs:data frames / bytes received | {report.frames} / "
        f"{report.received / mib:.1f} MiB |",
        f"| sessions:updated frames received | {report.session_lists} |",
        f"| frame latency p50 / p99 / max (live frames) | {report.latency_ms(0.5):.1f} / "
        f"{report.latency_ms(0.99):.1f} / {report.latency_ms(1.0):.1f} ms |",
        f"| drain after the last write | {report.drain:.2f} s |",
        f"| server CPU while writing (share of one core) | {report.server_cpu:.0%} |",
        f"| this process's CPU (clients, writer aside) | {report.client_cpu:.0%} |",
        "",
        "| server (/proc) | before | peak | after | flat |",
        "|---|---|---|---|---|",
    ]
    b, p, a = report.before, report.peak, report.after
    flat = "yes" if a.rss - b.rss < RSS_SLACK else "NO"
    lines.append(
        f"| RSS | {b.rss / mib:.0f} MiB | {p.rss / mib:.0f} MiB | {a.rss / mib:.0f} MiB | "
        f"{flat} (within {RSS_SLACK // mib} MiB) |"
    )
    for label, before, peak, after in zip(
        ("open files", "threads", "inotify watches"), b.held(), p.held(), a.held(), strict=True
    ):
        flat = "yes" if after == before else "NO"
        lines.append(f"| {label} | {before} | {peak} | {after} | {flat} |")
    lines += [
        "",
        f"Took {report.wall:.0f} s in all; {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())} at the end.",
    ]
    if report.problems:
        lines += ["", f"{len(report.problems)} problems:", *report.problems[:20]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run a soak with its own tmux server and directory; print the table; 0 if it held."""
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0, help="of writing (default 5)")
    parser.add_argument("--clients", type=int, default=Plan.clients)
    parser.add_argument("--sessions", type=int, default=Plan.sessions)
    parser.add_argument("--rate", type=int, default=Plan.rate, help="lines/s per session")
    parser.add_argument("--per-client", type=int, default=Plan.per_client)
    args = parser.parse_args(argv)
    plan = Plan(args.minutes * 60, args.clients, args.sessions, args.rate, args.per_client)
    tmux = Server(socket_name=f"saga-soak-{os.getpid()}")
    try:
        with tempfile.TemporaryDirectory(prefix="saga-soak-") as workdir:
            report = asyncio.run(soak(plan, Path(workdir), tmux))
    finally:
        with contextlib.suppress(Exception):
            tmux.kill()
    print(render(report))
    return 0 if report.complete == plan.clients and report.flat else 1


if __name__ == "__main__":
    sys.exit(main())
