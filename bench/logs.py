"""Log streaming, ours (``/api/saga/channels``) beside the peer (a Jupyter terminal per viewer
running ``tail -F``): latency at every load (ABBA), throughput, catch-up, first frame, a stalled
viewer. How each is measured: ``bench/README.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import re
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import MIB, Plan, Report, log, percentile, worker_output
from tests import harness
from tests.harness import JupyterProcess, TimedSocket

PEER_SHELL = '--ServerApp.terminado_settings={"shell_command": ["bash", "--noprofile", "--norc"]}'
LINE = re.compile(r"L(\d{7}) (\d+) ")
HEADER, END = "bench: ready", "bench: end of file"
READY, DRAIN, STEP = 30.0, 5.0, 60.0  # deadlines, seconds
SIDES = ("ours", "peer")
SESSIONS = '{"type": "sessions:updated"'  # each poll, 24 sessions with their previews
MARKS = itertools.count()  # what a shell prints once it reads commands: a new one each time


def session(i: int) -> str:
    """The SAGA session name of the i-th file."""
    return f"saga__bench__s{i}__1"


@dataclass
class Sides:
    """Both servers, and where each one's files are."""

    ours: JupyterProcess
    peer: JupyterProcess
    ours_dir: Path
    peer_dir: Path
    # The peer's terminals, opened as more are needed and reused: each one forks a shell off
    # the server, and deleting one blocks its loop ~0.1 s; a hundred, each run, outlasted the
    # requests. Loads run with the viewers' count growing, so a load has just its terminals.
    pool: list[Viewer] = field(default_factory=list)

    def server(self, side: str) -> JupyterProcess:
        """The server of ``ours`` or ``peer``."""
        return self.ours if side == "ours" else self.peer

    def path(self, side: str, i: int) -> Path:
        """The i-th file as that side reads it."""
        return (self.ours_dir if side == "ours" else self.peer_dir) / f"{session(i)}.out"


class Viewer:
    """One viewer's WebSocket: ours subscribed to a session, or a terminal's; text to a callback.

    ``raw``: the callback gets our frames whole, not their text.
    """

    def __init__(
        self, sides: Sides, side: str, on_text: Callable[[str, int], None], raw: bool = False
    ) -> None:
        self.sides, self.side, self.on_text, self.raw = sides, side, on_text, raw
        self.server = sides.server(side)
        self.socket: TimedSocket | None = None

    async def open(self) -> Viewer:
        """Connect (the peer: to a new terminal)."""
        route = "/api/saga/channels"
        if self.side == "peer":
            created = await asyncio.to_thread(self.server.request, "POST", "api/terminals", {})
            route = f"/terminals/websocket/{created['name']}"
        server = self.server
        self.socket = await harness.timed_connect(server.port, route, server.headers, self._on)
        return self

    def _on(self, message: str, arrival: int) -> None:
        if message.startswith(SESSIONS):  # not parsed: it would delay the next log frame's read
            return None
        if self.raw:
            return self.on_text(message, arrival)
        frame = json.loads(message)
        if self.side == "peer" and frame[0] == "stdout":
            self.on_text(frame[1], arrival)
        elif self.side == "ours" and frame["type"] == "logs:data":
            self.on_text(frame["data"], arrival)

    def whole_to(self, take: Callable[[bytes, int], None] | None) -> None:
        """Hand each message but session lists to ``take`` as its bytes (``None``: as before)."""

        def whole(message: bytes, arrival: int) -> None:
            if not message.startswith(SESSIONS.encode()):
                assert take is not None
                take(message, arrival)

        assert self.socket is not None
        self.socket.on_bytes = None if take is None else whole

    def send(self, message: Any) -> None:
        """Send a message (ours: a frame; the peer: keys typed)."""
        assert self.socket is not None
        self.socket.send(json.dumps(message if self.side == "ours" else ["stdin", message]))

    def follow(self, i: int, offset: int | None = None) -> None:
        """Follow the i-th file: from its tail, or from ``offset`` (the peer: 0 only)."""
        if self.side == "peer":
            start = "" if offset is None else "-c +1 "
            return self.send(f"tail -F {start}{self.sides.path('peer', i)}\r")
        frame = {"type": "subscribe:logs", "sessionName": session(i)}
        self.send(frame if offset is None else {**frame, "offset": offset})

    def stop(self, i: int) -> None:
        """Stop following the i-th file (the peer: Ctrl-C ends ``tail``)."""
        ours = {"type": "unsubscribe:logs", "sessionName": session(i)}
        self.send(ours if self.side == "ours" else "\x03")

    def close(self) -> None:
        """Close the socket; the peer's: Ctrl-C, and the terminal waits for its next use."""
        if self.side == "ours" and self.socket is not None:
            self.socket.close()
        elif self.side == "peer":
            self.send("\x03")
            self.on_text = ignore


def ignore(text: str, arrival: int) -> None:
    """What an idle terminal prints."""


class Stream:
    """What a viewer received: an event set once ``needle`` is in it, and when."""

    def __init__(self, needle: str = END) -> None:
        self.reset(needle)

    def reset(self, needle: str) -> None:
        """Start again, waiting for ``needle``."""
        self.needle, self.tail, self.at = needle, "", 0
        self.found = asyncio.Event()

    def take(self, text: str, arrival: int) -> None:
        """Take a message's text."""
        joined = self.tail + text
        if self.needle in joined:
            self.hit(arrival)
        self.tail = joined[-max(len(self.needle), 200) :]  # the end of what came: for errors

    def take_bytes(self, message: bytes, arrival: int) -> None:
        """Take a message whole, undecoded: the needle (ASCII) is looked for in its bytes."""
        needle = self.needle.encode()
        if needle in message or needle in self.tail.encode() + message[: len(needle)]:
            self.hit(arrival)
        end = message[-max(len(needle), 200) :].decode(errors="replace")
        self.tail = (self.tail + end)[-max(len(needle), 200) :]

    def hit(self, arrival: int) -> None:
        """The needle arrived (the first time counts)."""
        if not self.found.is_set():
            self.at = arrival
            self.found.set()


def end_tails(directory: Path) -> None:
    """Kill every process that names ``directory`` (the peer's files) in its command line."""
    pids = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    for pid in pids:
        with contextlib.suppress(OSError):
            if str(directory).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(int(pid), signal.SIGKILL)


async def all_set(events: Iterable[asyncio.Event], timeout: float) -> bool:
    """Whether every event is set within ``timeout`` seconds."""
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout)
    except TimeoutError:
        return False
    return True


async def viewers(
    sides: Sides, side: str, takers: list[Callable[[str, int], None]]
) -> list[Viewer]:
    """One open :class:`Viewer` per taker: ours new, the peer's from the pool of terminals."""
    if side == "ours":
        return list(await asyncio.gather(*(Viewer(sides, side, t).open() for t in takers)))
    while len(sides.pool) < len(takers):  # one after the other: each forks a shell
        sides.pool.append(await Viewer(sides, side, ignore).open())
    views = sides.pool[: len(takers)]
    await shells_ready(views)
    for view, taker in zip(views, takers, strict=True):
        view.on_text = taker
    return views


async def shells_ready(views: list[Viewer]) -> None:
    """Wait until every terminal's shell reads commands again: each prints a mark of its own
    (not its echo), typed again each second (bash drops what was typed while its job died of
    a Ctrl-C)."""
    streams = {view: Stream(f"R{next(MARKS)}Y") for view in views}
    for view, stream in streams.items():
        view.on_text = stream.take
    deadline = time.monotonic() + READY
    while waiting := [view for view, stream in streams.items() if not stream.found.is_set()]:
        if time.monotonic() > deadline:
            late = [f"{streams[v].needle} after {streams[v].tail!r}" for v in waiting[:3]]
            raise RuntimeError(f"{len(waiting)} terminals' shells did not answer: {late}")
        for view in waiting:
            view.send(f"printf 'R%sY\\n' {streams[view].needle[1:-1]}\r")
        await all_set((streams[view].found for view in waiting), 1.0)


# --- 1. latency -------------------------------------------------------------------------------


@dataclass
class Lines:
    """The lines one viewer got, timed when the message completing each arrived."""

    expected: int
    warmup: int  # sequence numbers below this are not timed
    latencies: list[float] = field(default_factory=list)  # ms
    received: int = 0
    partial: str = ""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, text: str, arrival: int) -> None:
        """Take a message's text; time every bench line it completes."""
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            if (match := LINE.search(line)) is None:
                if HEADER in line:
                    self.ready.set()
                continue
            self.received += 1
            if int(match[1]) >= self.warmup:
                self.latencies.append((arrival - int(match[2])) / 1e6)
        if self.received >= self.expected:
            self.done.set()


class Usage:
    """CPU (a share of one core) and peak RSS of a server and its children, from start to stop."""

    def __init__(self, pid: int) -> None:
        self.pid, self.cpu, self.began, self.rss = pid, harness.tree_cpu(pid), time.monotonic(), 0
        self._task = asyncio.ensure_future(self._sample())

    async def _sample(self) -> None:
        while True:
            tree = harness.process_tree(self.pid).values()
            self.rss = max(self.rss, sum(map(harness.rss_bytes, tree)))
            await asyncio.sleep(0.5)

    def stop(self) -> tuple[float, int]:
        """CPU share and peak RSS (the process tree's, summed)."""
        self._task.cancel()
        return (harness.tree_cpu(self.pid) - self.cpu) / (time.monotonic() - self.began), self.rss


async def latency_run(
    sides: Sides, side: str, files: int, count: int, plan: Plan
) -> dict[str, Any]:
    """One run: ``count`` viewers over ``files`` files at ``plan.rate`` lines/s each."""
    paths = [sides.path(side, i) for i in range(files)]
    for i, path in enumerate(paths):
        path.write_text(f"{HEADER} {i}\n")
    per_file, warmup = int(plan.rate * plan.seconds), int(plan.rate * plan.warmup)
    got = [Lines(per_file, warmup) for _ in range(count)]
    views: list[Viewer] = []
    writer = harness.Writer([str(p) for p in paths], plan.rate, plan.seconds)
    try:
        views = await viewers(sides, side, [lines.take for lines in got])
        for k, view in enumerate(views):
            view.follow(k % files)
        if not await all_set((lines.ready for lines in got), READY):
            late = [repr(lines.partial[-80:]) for lines in got if not lines.ready.is_set()]
            raise RuntimeError(f"{side}: {len(late)} viewers never saw their file: {late[:3]}")
        await writer.start()
        usage, client = Usage(sides.server(side).pid), harness.own_cpu()
        seconds, _ = await writer.finished()
        cpu, rss = usage.stop()
        client = (harness.own_cpu() - client) / seconds
        await all_set((lines.done for lines in got), DRAIN)
        for view, lines in zip(views, got, strict=True):
            if view.socket and view.socket.closed and not lines.done.is_set():
                raise RuntimeError(f"{side}: a viewer's WebSocket ended: {view.socket.closed}")
    finally:
        for view in views:
            view.close()
        await asyncio.to_thread(writer.stop)
    latencies = [ms for lines in got for ms in lines.latencies]
    late = [math.inf] * ((per_file - warmup) * count - len(latencies))  # not delivered
    received = sum(lines.received for lines in got)
    return {"latencies": latencies + late, "received": received, "expected": per_file * count,
            "cpu": cpu, "rss": rss, "client_cpu": client, "writer_seconds": seconds}  # fmt: skip


async def latency(sides: Sides, plan: Plan, report: Report) -> None:
    """Every load, ABBA; rows of p50 and p99 (no worse than the peer), CPU and RSS."""
    report.case = "latency"
    for count in plan.viewers:
        for files in plan.files:
            load = f"{count} viewer{'s' * (count > 1)} of {files} file{'s' * (files > 1)}"
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
            for side in plan.order:
                log(f"latency, {load}, {side}")
                runs[side].append(await latency_run(sides, side, files, count, plan))
            ours, peer = ([ms for run in runs[s] for ms in run["latencies"]] for s in SIDES)
            report.quantiles(load, ours, peer)
            top = {k: [max(run[k] for run in runs[s]) for s in SIDES] for k in ("cpu", "rss")}
            report.add(f"server CPU (of one core), {load}", *top["cpu"], "%")
            report.add(f"server RSS, {load}", *(rss / MIB for rss in top["rss"]), "MiB")
            each, got = {}, {}
            for s, r in runs.items():
                each[s] = ", ".join(f"{percentile(run['latencies'], 50):.2f}" for run in r)
                got[s] = f"{sum(x['received'] for x in r)}/{sum(x['expected'] for x in r)}"
            client = max(run["client_cpu"] for side in SIDES for run in runs[side])
            report.notes.append(
                f"{load}: p50 of each run ({'-'.join(plan.order)}): ours {each['ours']}, peer "
                f"{each['peer']} ms; lines delivered: ours {got['ours']}, peer {got['peer']}; "
                f"bench client up to {client:.0%} of a core"
            )
            for side, r in runs.items():
                details = [{k: v for k, v in run.items() if k != "latencies"} for run in r]
                report.details[f"latency {load} {side}"] = details


# --- 2, 3. throughput and catch-up ------------------------------------------------------------


async def read_whole(sides: Sides, side: str, i: int, count: int) -> float:
    """``count`` viewers read file ``i`` from byte 0 at once: seconds until all have its end.

    The end is looked for in each message's bytes as they came, neither parsed nor decoded:
    parsing a megabyte of JSON in Python cost this client as much CPU as the server spent
    sending it, and decoding it a third of that, which on two cores capped the figure (both
    sides' messages hold the end's text unescaped).
    """
    streams = [Stream() for _ in range(count)]
    views = await viewers(sides, side, [s.take for s in streams])
    for view, stream in zip(views, streams, strict=True):
        view.whole_to(stream.take_bytes)
    try:
        start = harness.now_ns()
        for view in views:
            view.follow(i, offset=0)
        if not await all_set((s.found for s in streams), STEP):
            return math.inf
        return (max(s.at for s in streams) - start) / 1e9
    finally:
        for view in views:
            view.whole_to(None)  # the peer's terminals are reused
            view.close()


async def throughput(sides: Sides, plan: Plan, report: Report, big: int, small: int) -> None:
    """Throughput to one viewer, and catch-up of many at once."""
    report.case = "throughput"
    log(f"throughput: a {plan.throughput_mib} MiB file from byte 0")
    mib = sides.path("ours", big).stat().st_size / MIB
    ours, peer = [mib / await read_whole(sides, side, big, 1) for side in SIDES]
    figure = f"one viewer, {plan.throughput_mib} MiB from byte 0"
    report.add(figure, ours, peer, "MiB/s", "≥ peer", ours >= peer)
    report.case, count = "catch-up", plan.catchup_viewers
    log(f"catch-up: {count} viewers of a {plan.catchup_mib} MiB file from byte 0 at once")
    ours, peer = [1000 * await read_whole(sides, side, small, count) for side in SIDES]
    figure = f"{count} viewers at once, {plan.catchup_mib} MiB from byte 0, until the last is done"
    report.add(figure, ours, peer, "ms", "≤ peer", ours <= peer)


# --- 4. first frame ---------------------------------------------------------------------------


async def first_frame(sides: Sides, plan: Plan, report: Report, i: int) -> None:
    """Subscribe to the initial frame, ``first_runs`` times; the peer: ``tail -F`` to its end."""
    log(f"first frame of a {plan.first_mib} MiB file, {plan.first_runs} times each")
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    for side in SIDES:
        stream = Stream()

        def initial(message: str, arrival: int, stream: Stream = stream) -> None:
            if json.loads(message).get("isInitial"):
                stream.hit(arrival)

        view = await Viewer(sides, side, initial, raw=True).open() if side == "ours" else None
        try:
            for _ in range(plan.first_runs):
                if side == "peer":  # a shell ready again after the last Ctrl-C
                    (view,) = await viewers(sides, side, [stream.take])
                assert view is not None
                stream.reset(END)
                start = harness.now_ns()
                view.follow(i)
                if not await all_set([stream.found], STEP):
                    raise RuntimeError(f"{side}: no first frame")
                times[side].append((stream.at - start) / 1e6)
                view.stop(i)
        finally:
            if view:
                view.close()
    report.case = "first frame"
    report.quantiles(
        f"{plan.first_mib} MiB file", times["ours"], times["peer"], "≤ 50 ms, ≤ peer", 50
    )


# --- 5. a stalled viewer ----------------------------------------------------------------------


async def stalled(sides: Sides, plan: Plan, report: Report, i: int) -> None:
    """A viewer stops reading while ``stalled_mib`` are written: RSS growth, then catch-up."""
    burst, growth, catchup = worker_output(MIB), {}, {}
    for side in SIDES:
        log(f"a stalled viewer, {side}: {plan.stalled_mib} MiB written while it does not read")
        path, stream, pid = sides.path(side, i), Stream(HEADER), sides.server(side).pid
        path.write_text(f"{HEADER}\n")
        (view,) = await viewers(sides, side, [stream.take])
        try:
            view.follow(i)
            if not await all_set([stream.found], READY):
                raise RuntimeError(f"{side}: the stalled viewer never started")
            stream.reset(END)
            assert view.socket is not None and view.socket.transport is not None
            view.socket.transport.pause_reading()
            before = harness.rss_bytes(harness.process_tree(pid)[pid])
            with path.open("ab") as file:
                for _ in range(plan.stalled_mib):
                    file.write(burst)
                file.write(f"{END}\n".encode())
            growth[side] = (await settled_rss(pid) - before) / MIB
            start = harness.now_ns()
            view.socket.transport.resume_reading()
            done = await all_set([stream.found], STEP)
            catchup[side] = (stream.at - start) / 1e6 if done else math.inf
        finally:
            view.close()
    report.case = "stalled viewer"
    figure = f"server RSS growth while {plan.stalled_mib} MiB wait for it"
    report.add(figure, growth["ours"], growth["peer"], "MiB", "≤ 16 MiB", growth["ours"] <= 16)
    figure = "until it has the last byte once it reads again"
    report.add(figure, catchup["ours"], catchup["peer"], "ms", "(the peer holds it in memory)")


async def settled_rss(pid: int, quiet: float = 1.0, deadline: float = 20.0) -> int:
    """The server's peak RSS until it has not grown for ``quiet`` seconds."""
    peak, grew, end = 0, time.monotonic(), time.monotonic() + deadline
    while time.monotonic() - grew < quiet and time.monotonic() < end:
        if (rss := harness.rss_bytes(harness.process_tree(pid)[pid])) > peak:
            peak, grew = rss, time.monotonic()
        await asyncio.sleep(0.1)
    return peak


# --- the case ---------------------------------------------------------------------------------


async def run(plan: Plan, workdir: Path, tmux: Any, report: Report) -> None:
    """Start both servers on the files, and measure."""
    files = max(plan.files)
    big, small, first, stall = range(files, files + 4)
    for i in range(files + 4):
        tmux.cmd("new-session", "-d", "-s", session(i), "sleep 3600")
    ours_dir, peer_dir, empty = workdir / "sessions", workdir / "peer-files", workdir / "empty"
    for directory in (ours_dir, peer_dir, empty):
        directory.mkdir()
    block = worker_output(MIB)
    for i, mib in ((big, plan.throughput_mib), (small, plan.catchup_mib), (first, plan.first_mib)):
        with (ours_dir / f"{session(i)}.out").open("wb") as file:
            file.writelines([block] * mib + [f"{END}\n".encode()])
        (peer_dir / f"{session(i)}.out").symlink_to(ours_dir / f"{session(i)}.out")

    def server(output_dir: Path, *args: str) -> JupyterProcess:
        traits = {"output_dir": output_dir, "tmux_socket_name": tmux.socket_name,
                  "state_file": f"{output_dir}.json"}  # fmt: skip
        return JupyterProcess(
            workdir, *(f"--SagaJupyterApp.{k}={v}" for k, v in traits.items()), *args
        )

    try:
        # Ours reads every byte, as the peer does: no skip to the tail for a far-behind viewer.
        every_byte = f"--SagaJupyterApp.catch_up_bytes={1 << 40}"
        with server(ours_dir, every_byte) as ours, server(empty, PEER_SHELL) as peer:
            sides = Sides(ours, peer, ours_dir, peer_dir)
            figures = plan.logs_figures
            if "latency" in figures:
                await latency(sides, plan, report)
            if "throughput" in figures:
                await throughput(sides, plan, report, big, small)
            if "first-frame" in figures:
                await first_frame(sides, plan, report, first)
            if "stalled" in figures:
                await stalled(sides, plan, report, stall)
    finally:
        end_tails(peer_dir)
