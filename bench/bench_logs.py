"""Log streaming over the channel against a Jupyter terminal running ``tail -F``.

Run from the repository root (about 90 s; the four latency runs take two thirds of it):

    .venv/bin/python bench/bench_logs.py [--subscribers 20] [--rate 200] [--seconds 10]
        [--throughput-mib 200] [--first-mib 100] [--runs 20]

The targets hold for the defaults; the other options are for looking into a result.

Three measurements, each of ours (``/api/saga/channels``) and of the peer a Jupyter user would
otherwise use (a jupyter_server_terminals terminal running ``tail -F``, read over
``/terminals/websocket/<name>``), one after the other in the same run:

1. append-to-frame latency: 20 subscribers on 20 sessions, a writer process appending 200
   lines/s to each file; every line carries its CLOCK_MONOTONIC write time and is timed when
   the frame completing it arrives. Ours: 20 channel connections, one subscription each. Peer:
   20 terminals, each running ``tail -F`` on one file. Both are read by the same bare WebSocket
   client (``TimedSocket``), cheap enough that the bench does not compete with the servers for
   the CPU. Each side runs twice, in the order ours, peer, peer, ours, so that neither gains
   from going first; its lines are pooled, and each run's p50 is shown too. CPU and RSS of
   each server (with its children: the peer's shells and ``tail`` processes) are sampled from
   ``/proc/<pid>/stat``.
2. throughput to one subscriber: a pre-written file read from byte 0 (ours: ``subscribe:logs``
   with ``offset: 0``; peer: ``tail -F -c +1``) until its last byte arrives.
3. first frame of a 100 MiB file: ``subscribe:logs`` to the initial ``logs:data`` frame (20
   times on one connection); peer: from typing ``tail -F`` to its output of the file's last line.

Each side has its own Jupyter server (a subprocess); the peer's server watches an empty output
directory and the peer's files live in a directory nobody watches, so neither server pays for
the other's file events. tmux runs on a private socket (``tmux -L saga-bench-logs-<pid>``) with
one ``sleep 3600`` session per file, so every session is running. Servers, terminals, the
writer, tmux and the temporary directory are removed at the end, on failure too. Prints a
markdown table and writes it to ``bench/results/logs.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_sessions import (
    DEFAULT_POLL,
    REPO,
    JupyterServer,
    TmuxServer,
    commit,
    fake_log,
    log,
    percentile,
    publish,
    raise_on_sigterm,
)
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from saga_jupyter.server.app import SagaJupyterApp

sys.path.insert(0, str(REPO))  # the harness the tests use too
from tests.harness import (
    TimedSocket,
    Writer,
    cpu_seconds,
    now_ns,
    own_cpu,
    process_tree,
    rss_bytes,
    timed_connect,
)

RESULTS = REPO / "bench" / "results" / "logs.md"
MIB = 1 << 20

WARMUP = 1.0  # seconds of lines left out of the percentiles
INITIAL_LOG_BYTES = SagaJupyterApp.initial_log_bytes.default_value
MAX_MESSAGE = 64 * MIB
READY_DEADLINE = 30.0
DRAIN_DEADLINE = 5.0
THROUGHPUT_DEADLINE = 60.0
STEP_DEADLINE = 10.0
SAMPLE_PERIOD = 0.5
UNWATCHED_SECONDS = 5.0
# The peer's terminals skip the login profile: here it runs `pyenv rehash`, seconds per shell.
PEER_SHELL = '--ServerApp.terminado_settings={"shell_command": ["bash", "--noprofile", "--norc"]}'

TARGET_P50_MS, TARGET_P99_MS = 5.0, 25.0
TARGET_MIB_S = 50.0
LATENCY_ORDER = ("ours", "peer", "peer", "ours")  # ABBA: neither side gains from going first
TARGET_FIRST_MS = 50.0

HEADER = "bench: output starts here"
END_MARKER = "bench: end of file"
LINE_RE = re.compile(r"L(\d{7}) (\d+) ")


def session(i: int) -> str:
    """The SAGA session name of the i-th file."""
    return f"saga__bench__s{i}__1"


def ms_since(start_ns: int, end_ns: int) -> float:
    """Milliseconds between two ``now_ns`` readings."""
    return (end_ns - start_ns) / 1e6


@dataclass(frozen=True)
class Plan:
    """What a run does; the targets are for the defaults."""

    subscribers: int = 20  # sessions, one subscriber each
    rate: int = 200  # lines per second per session
    seconds: float = 10.0  # of writing, for the latency run
    throughput_mib: int = 200
    first_mib: int = 100
    runs: int = 20  # first frames timed

    @property
    def load(self) -> str:
        """The latency run's load, for the table."""
        return f"{self.subscribers} subscribers x {self.rate} lines/s, {self.seconds:g} s"


# --- the files --------------------------------------------------------------------------------


@dataclass
class Files:
    """The files each side reads: ``ours`` in the server's output dir, ``peer`` elsewhere."""

    ours_dir: Path
    peer_dir: Path
    subscribers: int
    throughput_bytes: int = 0
    first_bytes: int = 0

    def latency(self, directory: Path) -> list[str]:
        """The files of the latency test (sessions 0 to subscribers - 1)."""
        return [str(directory / f"{session(i)}.out") for i in range(self.subscribers)]

    @property
    def throughput_name(self) -> str:
        """The session whose file is read whole for throughput."""
        return session(self.subscribers)

    @property
    def first_name(self) -> str:
        """The session whose large file's first frame is timed."""
        return session(self.subscribers + 1)


def write_files(workdir: Path, plan: Plan) -> Files:
    """The two directories, and two large logs in them (hard-linked); latency files come later."""
    ours_dir, peer_dir = workdir / "sessions", workdir / "peer-files"
    ours_dir.mkdir()
    peer_dir.mkdir()
    files = Files(ours_dir, peer_dir, plan.subscribers)
    files.throughput_bytes = write_log(
        ours_dir / f"{files.throughput_name}.out", plan.throughput_mib
    )
    files.first_bytes = write_log(ours_dir / f"{files.first_name}.out", plan.first_mib)
    for name in (files.throughput_name, files.first_name):
        # A hard link: the same bytes, but events on it reach watchers of peer_dir only.
        os.link(ours_dir / f"{name}.out", peer_dir / f"{name}.out")
    return files


def start_latency_files(paths: list[str]) -> list[str]:
    """``paths``, each (re)written to hold only the header line its subscriber waits for."""
    for i, path in enumerate(paths):
        Path(path).write_text(f"{HEADER} {i}\n")
    return paths


def write_log(path: Path, mib: int) -> int:
    """``mib`` MiB of worker output (ANSI colours, ``\\r``, some non-ASCII), then a last line."""
    block = (fake_log("auth", 40) + "✓ 12 passed — ready for review\n").encode()
    chunk = block * (MIB // len(block) + 1)
    with open(path, "wb") as file:
        for _ in range(mib):
            file.write(chunk[:MIB])
        file.write(f"{END_MARKER}\n".encode())
    return path.stat().st_size


# --- CPU and memory (the /proc readers, the writer, the WebSocket client: tests/harness.py)


@dataclass
class Usage:
    """What a server and its children used while a measurement ran."""

    cpu: float = 0.0  # seconds
    wall: float = 0.0  # seconds
    rss_before: int = 0  # the server process alone
    rss_peak: int = 0
    tree_rss_peak: int = 0  # the server and its children, summed
    processes: int = 0

    @property
    def cpu_share(self) -> float:
        """CPU as a share of one core."""
        return self.cpu / self.wall if self.wall else 0.0


class UsageSampler:
    """Samples a server's process tree every ``SAMPLE_PERIOD`` from :meth:`start` to :meth:`stop`.

    CPU is summed over the whole tree at both ends (a child reaped meanwhile is in its
    parent's cutime/cstime); RSS is the peak of the samples.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.usage = Usage()
        self._cpu_start = 0.0
        self._start_ns = 0
        self._task: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Take the first sample and keep sampling."""
        tree = process_tree(self.pid)
        self.usage.rss_before = rss_bytes(tree[self.pid])
        self._cpu_start = sum(cpu_seconds(fields) for fields in tree.values())
        self._start_ns = now_ns()
        self._task = asyncio.ensure_future(self._sample_forever())

    async def _sample_forever(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_PERIOD)

    def sample(self) -> dict[int, list[str]]:
        """One sample of RSS; the tree it saw."""
        tree = process_tree(self.pid)
        usage = self.usage
        usage.rss_peak = max(usage.rss_peak, rss_bytes(tree[self.pid]))
        usage.tree_rss_peak = max(usage.tree_rss_peak, sum(map(rss_bytes, tree.values())))
        usage.processes = max(usage.processes, len(tree))
        return tree

    def cancel(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()

    def stop(self) -> Usage:
        """The last sample; what was used since :meth:`start`."""
        self.cancel()
        tree = self.sample()
        self.usage.cpu = sum(cpu_seconds(fields) for fields in tree.values()) - self._cpu_start
        self.usage.wall = (now_ns() - self._start_ns) / 1e9
        return self.usage


# --- WebSocket clients --------------------------------------------------------------------------


def request(
    server: JupyterServer, path: str, method: str = "GET", body: str | None = None
) -> HTTPRequest:
    """A request to the server with its token."""
    url = f"http://127.0.0.1:{server.port}{path}"
    return HTTPRequest(url, method=method, body=body, headers=server.headers, request_timeout=10)


async def connect(server: JupyterServer, path: str) -> WebSocketClientConnection:
    """Open a WebSocket on the server."""
    url = f"ws://127.0.0.1:{server.port}{path}"
    ws_request = HTTPRequest(url, headers=server.headers, connect_timeout=10, request_timeout=10)
    ws = await websocket_connect(ws_request, max_message_size=MAX_MESSAGE)
    # tornado turns Nagle back on once the upgrade is done; then a frame sent right after another
    # waits for the server's delayed ACK (~40 ms): this client's delay, not the server's.
    assert ws.protocol is not None  # open
    ws.protocol.set_nodelay(True)
    return ws


async def next_message(ws: WebSocketClientConnection, deadline: float) -> tuple[str, int]:
    """The next message and its arrival time; ``TimeoutError`` at ``deadline`` (monotonic)."""
    message = await asyncio.wait_for(ws.read_message(), max(0.0, deadline - time.monotonic()))
    arrival = now_ns()
    if message is None:
        raise ConnectionError("WebSocket closed by the server")
    return message if isinstance(message, str) else message.decode(), arrival


async def open_channel(server: JupyterServer) -> WebSocketClientConnection:
    """A channel connection, past its first ``sessions:updated`` frame."""
    ws = await connect(server, "/api/saga/channels")
    await next_message(ws, time.monotonic() + STEP_DEADLINE)
    return ws


async def subscribe(ws: WebSocketClientConnection, name: str, offset: int | None = None) -> None:
    """Send ``subscribe:logs``."""
    frame: dict[str, Any] = {"type": "subscribe:logs", "sessionName": name}
    if offset is not None:
        frame["offset"] = offset
    await ws.write_message(json.dumps(frame))


def channel_text(message: str) -> str | None:
    """The text a channel frame carries, if it is ``logs:data``."""
    frame = json.loads(message)
    return frame["data"] if frame.get("type") == "logs:data" else None


def terminal_text(message: str) -> str | None:
    """The text a terminal frame carries, if it is ``stdout``."""
    frame = json.loads(message)
    return frame[1] if frame[0] == "stdout" else None


class Terminals:
    """Jupyter terminals opened on one server; :meth:`close` deletes them all."""

    def __init__(self, server: JupyterServer) -> None:
        self.server = server
        self.http = AsyncHTTPClient()
        self.names: list[str] = []
        self.sockets: list[WebSocketClientConnection] = []

    async def create(self) -> str:
        """A new terminal (``POST /api/terminals``): its name."""
        response = await self.http.fetch(request(self.server, "/api/terminals", "POST", "{}"))
        name: str = json.loads(response.body)["name"]
        self.names.append(name)
        return name

    async def open(self) -> WebSocketClientConnection:
        """A new terminal and its WebSocket."""
        ws = await connect(self.server, f"/terminals/websocket/{await self.create()}")
        self.sockets.append(ws)
        return ws

    async def close(self) -> None:
        """Close every WebSocket and delete every terminal (its shell and ``tail`` end)."""
        for ws in self.sockets:
            ws.close()
        for name in self.names:
            with contextlib.suppress(Exception):
                await self.http.fetch(request(self.server, f"/api/terminals/{name}", "DELETE"))


async def type_line(ws: WebSocketClientConnection, command: str) -> None:
    """Type a command line into a terminal."""
    await ws.write_message(json.dumps(["stdin", command + "\r"]))


async def interrupt(ws: WebSocketClientConnection) -> None:
    """Type Ctrl-C: stops ``tail``."""
    await ws.write_message(json.dumps(["stdin", "\x03"]))


async def wait_for_text(ws: WebSocketClientConnection, needle: str, deadline: float) -> int:
    """Read terminal output until ``needle`` shows up; its arrival time."""
    seen = ""
    while True:
        message, arrival = await next_message(ws, deadline)
        seen = seen[-len(needle) :] + (terminal_text(message) or "")
        if needle in seen:
            return arrival


async def shell_ready(ws: WebSocketClientConnection, k: int) -> None:
    """Wait until the terminal's shell runs commands again (the printed text is not the echo)."""
    await type_line(ws, f"printf 'R%sY\\n' {k}")
    await wait_for_text(ws, f"R{k}Y", time.monotonic() + STEP_DEADLINE)


# --- 1. append-to-frame latency -------------------------------------------------------------


@dataclass
class Receiver:
    """What one subscriber saw of one file: whole lines, timed when they arrive."""

    expected: int
    warmup: int  # sequence numbers below this are not timed
    latencies: list[float] = field(default_factory=list)  # ms
    received: int = 0
    partial: str = ""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def feed(self, text: str, arrival_ns: int) -> None:
        """Take a chunk of text; time every bench line it completes."""
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            match = LINE_RE.search(line)
            if match is None:
                if HEADER in line:
                    self.ready.set()
                continue
            self.received += 1
            if int(match[1]) >= self.warmup:
                self.latencies.append(ms_since(int(match[2]), arrival_ns))
        if self.received >= self.expected:
            self.done.set()


async def wait_all(events: list[asyncio.Event], timeout: float) -> bool:
    """Whether every event was set within ``timeout`` seconds."""
    try:
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in events)), timeout)
    except TimeoutError:
        return False
    return True


@dataclass
class Latency:
    """The outcome of one side's latency run."""

    latencies: list[float]
    received: int
    expected: int
    usage: Usage
    writer_seconds: float
    writer_cpu: float
    client_cpu: float

    def p(self, q: float) -> float:
        """A latency percentile in ms (infinite when nothing arrived)."""
        return percentile(self.latencies, q) if self.latencies else float("inf")

    @staticmethod
    def pooled(runs: list[Latency]) -> Latency:
        """Runs of one side as one: every line, CPU over all of them, the highest peaks."""
        usage = Usage(
            sum(run.usage.cpu for run in runs),
            sum(run.usage.wall for run in runs),
            min(run.usage.rss_before for run in runs),
            max(run.usage.rss_peak for run in runs),
            max(run.usage.tree_rss_peak for run in runs),
            max(run.usage.processes for run in runs),
        )
        return Latency(
            [value for run in runs for value in run.latencies],
            sum(run.received for run in runs),
            sum(run.expected for run in runs),
            usage,
            sum(run.writer_seconds for run in runs),
            sum(run.writer_cpu for run in runs),
            sum(run.client_cpu for run in runs) / len(runs),
        )


async def latency_run(
    server: JupyterServer,
    targets: list[tuple[str, str]],
    text_of: Callable[[str], str | None],
    paths: list[str],
    plan: Plan,
) -> Latency:
    """Write to ``paths`` while a socket per file times what arrives of it.

    Socket ``i`` opens WebSocket path ``targets[i][0]`` and sends ``targets[i][1]``, which makes
    the server follow ``paths[i]``.
    """
    per_file = int(plan.rate * plan.seconds)
    receivers = [Receiver(per_file, int(plan.rate * WARMUP)) for _ in paths]
    sockets: list[TimedSocket] = []
    writer = Writer(paths, plan.rate, plan.seconds)
    sampler = UsageSampler(server.pid)

    def feeding(receiver: Receiver) -> Callable[[str, int], None]:
        def on_text(message: str, arrival: int) -> None:
            if text := text_of(message):
                receiver.feed(text, arrival)

        return on_text

    try:
        for (path, first), receiver in zip(targets, receivers, strict=True):
            socket = await timed_connect(server.port, path, server.headers, feeding(receiver))
            sockets.append(socket)
            sockets[-1].send(first)
        if not await wait_all([r.ready for r in receivers], READY_DEADLINE):
            raise RuntimeError("subscribers did not see their file's first line in time")
        await writer.start()
        client_before = own_cpu()
        sampler.start()
        writer_seconds, writer_cpu = await writer.finished()
        usage = sampler.stop()
        client_cpu = own_cpu() - client_before
        await wait_all([r.done for r in receivers], DRAIN_DEADLINE)
        for socket, receiver in zip(sockets, receivers, strict=True):
            if socket.closed and not receiver.done.is_set():
                raise RuntimeError(f"a subscriber's WebSocket ended early: {socket.closed}")
    finally:
        sampler.cancel()
        for socket in sockets:
            socket.close()
        await asyncio.to_thread(writer.stop)
    return Latency(
        [value for r in receivers for value in r.latencies],
        sum(r.received for r in receivers),
        per_file * len(paths),
        usage,
        writer_seconds,
        writer_cpu,
        client_cpu / writer_seconds,
    )


async def latency_ours(server: JupyterServer, files: Files, plan: Plan) -> Latency:
    """One channel connection per subscriber, each subscribed to one session."""
    paths = start_latency_files(files.latency(files.ours_dir))
    targets = [
        ("/api/saga/channels", json.dumps({"type": "subscribe:logs", "sessionName": session(i)}))
        for i in range(plan.subscribers)
    ]
    return await latency_run(server, targets, channel_text, paths, plan)


async def latency_peer(server: JupyterServer, files: Files, plan: Plan) -> Latency:
    """One terminal per subscriber, each running ``tail -F`` on one file."""
    paths = start_latency_files(files.latency(files.peer_dir))
    terminals = Terminals(server)
    try:
        targets = [
            (
                f"/terminals/websocket/{await terminals.create()}",
                json.dumps(["stdin", f"tail -F {path}\r"]),
            )
            for path in paths
        ]
        return await latency_run(server, targets, terminal_text, paths, plan)
    finally:
        await terminals.close()


async def unwatched_cpu(server: JupyterServer, files: Files, plan: Plan) -> Usage:
    """Ours with the same writer but no subscriber: what the directory watch alone costs."""
    seconds = min(plan.seconds, UNWATCHED_SECONDS)
    writer = Writer(files.latency(files.ours_dir), plan.rate, seconds)
    sampler = UsageSampler(server.pid)
    try:
        await writer.start()
        sampler.start()
        await writer.finished()
        return sampler.stop()
    finally:
        sampler.cancel()
        await asyncio.to_thread(writer.stop)


# --- 2. throughput --------------------------------------------------------------------------


@dataclass
class Throughput:
    """Bytes of the file delivered, in how long; ``complete`` when its last byte arrived."""

    delivered: int
    seconds: float
    complete: bool
    wire: int = 0  # bytes of text on the WebSocket (the peer's include the terminal's \r)

    @property
    def mib_s(self) -> float:
        """MiB of the file delivered per second."""
        return self.delivered / MIB / self.seconds if self.seconds else 0.0


async def throughput_ours(server: JupyterServer, files: Files) -> Throughput:
    """Subscribe from byte 0 and read ``logs:data`` frames until the file's last byte."""
    ws = await open_channel(server)
    delivered = offset = 0
    try:
        start = end = now_ns()
        deadline = time.monotonic() + THROUGHPUT_DEADLINE
        await subscribe(ws, files.throughput_name, offset=0)
        with contextlib.suppress(TimeoutError):
            while offset < files.throughput_bytes:
                message, end = await next_message(ws, deadline)
                frame = json.loads(message)
                if frame.get("type") == "logs:data":
                    delivered += len(frame["data"].encode())
                    offset = frame["offset"]
    finally:
        ws.close()
    seconds = ms_since(start, end) / 1000
    return Throughput(delivered, seconds, offset >= files.throughput_bytes, delivered)


async def throughput_peer(server: JupyterServer, files: Files) -> Throughput:
    """``tail -F -c +1`` in a terminal, read until the file's last line shows."""
    terminals = Terminals(server)
    wire, seen, complete = 0, "", False
    try:
        ws = await terminals.open()
        await shell_ready(ws, 0)
        path = files.peer_dir / f"{files.throughput_name}.out"
        start = now_ns()
        deadline = time.monotonic() + THROUGHPUT_DEADLINE
        await type_line(ws, f"tail -F -c +1 {path}")
        end = start
        with contextlib.suppress(TimeoutError):
            while not complete:
                message, end = await next_message(ws, deadline)
                text = terminal_text(message) or ""
                wire += len(text.encode())
                seen = seen[-len(END_MARKER) :] + text
                complete = END_MARKER in seen
        await interrupt(ws)
    finally:
        await terminals.close()
    delivered = files.throughput_bytes if complete else wire  # wire overcounts by the \r's
    return Throughput(delivered, ms_since(start, end) / 1000, complete, wire)


# --- 3. first frame of a large file ---------------------------------------------------------


async def first_frame_ours(
    server: JupyterServer, files: Files, runs: int
) -> tuple[list[float], int]:
    """Subscribe, time the initial frame, unsubscribe; ``runs`` times. Times (ms), frame bytes."""
    ws = await open_channel(server)
    times: list[float] = []
    size = 0
    unsubscribe = json.dumps({"type": "unsubscribe:logs", "sessionName": files.first_name})
    try:
        for _ in range(runs):
            deadline = time.monotonic() + STEP_DEADLINE
            start = now_ns()
            await subscribe(ws, files.first_name)
            while True:
                message, arrival = await next_message(ws, deadline)
                frame = json.loads(message)
                if frame.get("type") == "logs:data" and frame["isInitial"]:
                    break
            times.append(ms_since(start, arrival))
            size = len(frame["data"].encode())
            await ws.write_message(unsubscribe)
    finally:
        ws.close()
    return times, size


async def first_frame_peer(server: JupyterServer, files: Files, runs: int) -> list[float]:
    """Type ``tail -F``, time its output of the file's last line, stop it; ``runs`` times."""
    terminals = Terminals(server)
    times: list[float] = []
    path = files.peer_dir / f"{files.first_name}.out"
    try:
        ws = await terminals.open()
        await shell_ready(ws, 0)
        for k in range(1, runs + 1):
            start = now_ns()
            await type_line(ws, f"tail -F {path}")
            arrival = await wait_for_text(ws, END_MARKER, time.monotonic() + STEP_DEADLINE)
            times.append(ms_since(start, arrival))
            await interrupt(ws)
            await shell_ready(ws, k)
    finally:
        await terminals.close()
    return times


# --- the run and the report -----------------------------------------------------------------


@dataclass
class Results:
    """Every figure of one run."""

    latency: dict[str, list[Latency]] = field(default_factory=dict)  # each side's runs
    throughput: dict[str, Throughput] = field(default_factory=dict)
    first: dict[str, list[float]] = field(default_factory=dict)
    first_bytes: int = 0
    unwatched: Usage = field(default_factory=Usage)


async def measure(ours: JupyterServer, peer: JupyterServer, files: Files, plan: Plan) -> Results:
    """The three measurements: latency ours, peer, peer, ours; then ours first each time."""
    results = Results(latency={"ours": [], "peer": []})
    runs = {
        "ours": lambda: latency_ours(ours, files, plan),
        "peer": lambda: latency_peer(peer, files, plan),
    }
    for side in LATENCY_ORDER:
        log(f"1/3 latency, {side}: {plan.load}")
        results.latency[side].append(await runs[side]())
    log("1/3 ours again, with the writer but no subscriber")
    results.unwatched = await unwatched_cpu(ours, files, plan)
    log(f"2/3 throughput, ours: {files.throughput_bytes / MIB:.0f} MiB from offset 0")
    results.throughput["ours"] = await throughput_ours(ours, files)
    log("2/3 throughput, peer: tail -F -c +1")
    results.throughput["peer"] = await throughput_peer(peer, files)
    log(f"3/3 first frame of a {files.first_bytes / MIB:.0f} MiB file, {plan.runs} runs each")
    results.first["ours"], results.first_bytes = await first_frame_ours(ours, files, plan.runs)
    results.first["peer"] = await first_frame_peer(peer, files, plan.runs)
    return results


def load() -> str:
    """The load averages, as ``uptime`` shows them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def fmt_ms(value: float) -> str:
    """Milliseconds for the table."""
    return "—" if value != value or value == float("inf") else f"{value:.2f} ms"


def fmt_mib(value: int) -> str:
    """Bytes as MiB for the table."""
    return f"{value / MIB:.0f} MiB"


def row(metric: str, ours: str, peer: str, target: str, passed: bool | None = None) -> str:
    """One table row; ``passed`` None is for information."""
    verdict = {True: "pass", False: "**FAIL**", None: "info"}[passed]
    return f"| {metric} | {ours} | {peer} | {target} | {verdict} |"


def latency_rows(runs: dict[str, list[Latency]], plan: Plan, unwatched: Usage) -> list[str]:
    """Rows of measurement 1: each side's runs pooled, and each run's p50."""
    ours, peer = Latency.pooled(runs["ours"]), Latency.pooled(runs["peer"])
    p50, p99 = (ours.p(50), peer.p(50)), (ours.p(99), peer.p(99))
    setup = f"{plan.load}, {len(runs['ours'])} runs each"
    return [
        row(
            f"append-to-frame latency p50 ({setup})",
            fmt_ms(p50[0]),
            fmt_ms(p50[1]),
            f"≤ {TARGET_P50_MS:g} ms and ≤ peer",
            p50[0] <= min(TARGET_P50_MS, p50[1]),
        ),
        row(
            f"p50 of each run, in the order {'-'.join(LATENCY_ORDER)}",
            ", ".join(fmt_ms(run.p(50)) for run in runs["ours"]),
            ", ".join(fmt_ms(run.p(50)) for run in runs["peer"]),
            "—",
        ),
        row(
            "append-to-frame latency p99",
            fmt_ms(p99[0]),
            fmt_ms(p99[1]),
            f"≤ {TARGET_P99_MS:g} ms and ≤ peer",
            p99[0] <= min(TARGET_P99_MS, p99[1]),
        ),
        row(
            "append-to-frame latency max",
            fmt_ms(max(ours.latencies, default=float("inf"))),
            fmt_ms(max(peer.latencies, default=float("inf"))),
            "—",
        ),
        row(
            "lines delivered",
            f"{ours.received}/{ours.expected}",
            f"{peer.received}/{peer.expected}",
            "all, once",
            ours.received == ours.expected,
        ),
        row(
            "server CPU during 1 (jupyter + children, share of one core)",
            f"{ours.usage.cpu_share:.0%}",
            f"{peer.usage.cpu_share:.0%}",
            "—",
        ),
        row(
            "server CPU, same writer, no subscriber",
            f"{unwatched.cpu_share:.0%}",
            "0% (nothing runs)",
            "—",
        ),
        row(
            "server RSS during 1 (jupyter process, peak)",
            rss_cell(ours.usage),
            rss_cell(peer.usage),
            "—",
        ),
        row(
            "server RSS during 1 (jupyter + children, summed, peak)",
            fmt_mib(ours.usage.tree_rss_peak),
            fmt_mib(peer.usage.tree_rss_peak),
            "—",
        ),
    ]


def rss_cell(usage: Usage) -> str:
    """Peak RSS of the server process and its growth during the run."""
    return f"{fmt_mib(usage.rss_peak)} (+{fmt_mib(usage.rss_peak - usage.rss_before)})"


def throughput_rows(ours: Throughput, peer: Throughput, size: int) -> list[str]:
    """Rows of measurement 2."""

    def cell(result: Throughput) -> str:
        done = "" if result.complete else f" (timed out after {fmt_mib(result.delivered)})"
        return f"{result.mib_s:.1f} MiB/s{done}"

    passed = ours.complete and ours.mib_s >= max(TARGET_MIB_S, peer.mib_s)
    return [
        row(
            f"throughput to one subscriber ({fmt_mib(size)} from byte 0)",
            cell(ours),
            cell(peer),
            f"≥ {TARGET_MIB_S:g} MiB/s and ≥ peer",
            passed,
        )
    ]


def first_rows(ours: list[float], peer: list[float], size: int) -> list[str]:
    """Rows of measurement 3."""
    setup = f"{fmt_mib(size)} file, {len(ours)} subscribes"
    return [
        row(
            f"first frame p50 ({setup})",
            fmt_ms(percentile(ours, 50)),
            fmt_ms(percentile(peer, 50)),
            f"≤ {TARGET_FIRST_MS:g} ms",
            percentile(ours, 50) <= TARGET_FIRST_MS,
        ),
        row(
            "first frame p99",
            fmt_ms(percentile(ours, 99)),
            fmt_ms(percentile(peer, 99)),
            f"≤ {TARGET_FIRST_MS:g} ms",
            percentile(ours, 99) <= TARGET_FIRST_MS,
        ),
    ]


def notes(results: Results, files: Files, loads: list[str]) -> list[str]:
    """What the table needs to be read right."""
    ours, peer = (Latency.pooled(results.latency[side]) for side in ("ours", "peer"))
    return [
        f"Load average (1, 5, 15 min): {loads[0]} at the start, {loads[1]} at the end; "
        f"{os.cpu_count()} CPUs. Other load shows up in every figure.",
        f"Writer: {ours.expected} lines in {ours.writer_seconds:.2f} s (ours), {peer.expected} in "
        f"{peer.writer_seconds:.2f} s (peer); its CPU {ours.writer_cpu:.2f} s / "
        f"{peer.writer_cpu:.2f} s. Bench client CPU during 1: {ours.client_cpu:.0%} (ours), "
        f"{peer.client_cpu:.0%} (peer) of a core: its loop's delay is in both sides' figures.",
        f"Latencies leave out the first {WARMUP:g} s; a line is timed when the frame holding "
        "its newline is read by the client (before JSON parsing).",
        f"Server process trees during 1: ours {ours.usage.processes} process(es), peer "
        f"{peer.usage.processes} (jupyter, a shell and a `tail` per subscriber).",
        f"Throughput: ours {results.throughput['ours'].wire} bytes of `data`; peer "
        f"{results.throughput['peer'].wire} bytes of terminal text (the pty adds `\\r` per line); "
        "MiB/s counts the file's bytes.",
        f"First frame: ours' initial frame held {results.first_bytes} bytes (initial_log_bytes "
        f"{INITIAL_LOG_BYTES}); the peer's time includes the shell starting `tail`.",
        "Peer: its own Jupyter server, watching an empty output directory; terminals run "
        "`bash --noprofile --norc` (the login profile here runs `pyenv rehash`: seconds).",
        f"Files: {fmt_mib(files.throughput_bytes)} and {fmt_mib(files.first_bytes)} of worker "
        "output (ANSI colours, `\\r`, non-ASCII), in the page cache.",
    ]


def render(results: Results, files: Files, loads: list[str], plan: Plan, seconds: float) -> str:
    """The markdown report."""
    lines = [
        "# bench_logs",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, commit {commit()}, "
        f"Python {platform.python_version()}, {seconds:.0f} s. Peer: a jupyter_server_terminals "
        "terminal running `tail -F`, read over its WebSocket.",
        "",
        "| metric | ours | peer | target | result |",
        "|---|---|---|---|---|",
        *latency_rows(results.latency, plan, results.unwatched),
        *throughput_rows(
            results.throughput["ours"], results.throughput["peer"], files.throughput_bytes
        ),
        *first_rows(results.first["ours"], results.first["peer"], files.first_bytes),
        "",
        *(f"- {note}" for note in notes(results, files, loads)),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> Plan:
    """Command-line options."""
    default = Plan()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=default.subscribers)
    parser.add_argument("--rate", type=int, default=default.rate, help="lines/s per session")
    parser.add_argument("--seconds", type=float, default=default.seconds, help="latency run")
    parser.add_argument("--throughput-mib", type=int, default=default.throughput_mib)
    parser.add_argument("--first-mib", type=int, default=default.first_mib)
    parser.add_argument("--runs", type=int, default=default.runs, help="first frames timed")
    return Plan(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    """Start tmux and two servers, measure both sides, print and save the table."""
    plan = parse_args(argv)
    raise_on_sigterm()
    began = time.monotonic()
    loads = [load()]
    with contextlib.ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="saga-bench-")))
        tmux = TmuxServer(f"saga-bench-logs-{os.getpid()}")
        cleanup.callback(tmux.kill)
        names = [session(i) for i in range(plan.subscribers + 2)]
        log(f"{len(names)} tmux sessions on -L {tmux.socket}; writing the files")
        tmux.new_sessions(names)
        files = write_files(workdir, plan)
        (workdir / "empty").mkdir()
        ours = cleanup.enter_context(
            JupyterServer(workdir, files.ours_dir, tmux.socket, DEFAULT_POLL)
        )
        peer_server = JupyterServer(workdir, workdir / "empty", tmux.socket, DEFAULT_POLL)
        peer_server.command.append(PEER_SHELL)
        peer = cleanup.enter_context(peer_server)
        ours.wait_ready(len(names))
        peer.wait_ready(len(names))
        results = asyncio.run(measure(ours, peer, files, plan))
        loads.append(load())
    publish(render(results, files, loads, plan, time.monotonic() - began), RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
