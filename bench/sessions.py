"""The sessions side with ``plan.sessions`` sessions (scan CPU, GET latency, idle polls, a new
session on the channel), the metadata store, and the command line's ``ls`` and ``tail`` on the
same sessions. How each is measured: ``bench/README.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import http.client
import json
import logging
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from libtmux.server import Server

from bench import REPO, Plan, Report, log, percentile, timed, worker_output
from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.records import SessionRecord
from saga_jupyter.core.store import MetadataStore
from saga_jupyter.core.tmux.client import Tmux
from saga_jupyter.server.app import SagaJupyterApp
from saga_jupyter.server.poller import Poller
from tests.harness import JupyterProcess, timed_connect, tree_cpu

POLL = SagaJupyterApp.poll_interval.default_value
BATCH = 50  # sessions started per tmux call


def name(kind: str, i: int) -> str:
    """A SAGA session name spread over 10 epics."""
    return f"saga__epic-{i % 10}__{kind}-{i}__{100000 + i}"


def start(tmux: Any, names: list[str]) -> None:
    """Start a detached ``sleep`` session per name, ``BATCH`` a tmux call."""
    for at in range(0, len(names), BATCH):  # commands separated by ";" arguments
        batch = names[at : at + BATCH]
        tmux.cmd(*[a for s in batch for a in (";", "new-session", "-d", "-s", s, "sleep 3600")][1:])


@functools.cache
def tmux_pid(socket_name: str) -> int:
    """The process id of the tmux server on a socket."""
    return int(Server(socket_name=socket_name).cmd("display", "-p", "#{pid}").stdout[0])


def tmux_cpu(tmux: Any) -> float:
    """CPU seconds of the (single-threaded) tmux server, to the nanosecond."""
    stat = Path(f"/proc/{tmux_pid(tmux.socket_name)}/schedstat").read_text()
    return int(stat.split()[0]) / 1e9


def cpu_of(action: Callable[[], object], tmux: Any) -> float:
    """CPU ms an action costs this process, the processes it waits for and tmux's server."""

    def now() -> float:
        mine, kids = map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        return mine.ru_utime + mine.ru_stime + kids.ru_utime + kids.ru_stime + tmux_cpu(tmux)

    def settle() -> None:  # tmux's server works on a few ms after its client exits: the call's
        last, deadline = tmux_cpu(tmux), time.monotonic() + 1
        while time.monotonic() < deadline:
            time.sleep(0.005)  # a bounded poll of its CPU counter
            if (current := tmux_cpu(tmux)) == last:
                return
            last = current

    settle()
    before = now()
    action()
    settle()
    return (now() - before) * 1000


def scan_cpu(plan: Plan, tmux: Any, output_dir: Path, report: Report) -> None:
    """A warm scan's CPU against a bare ``list-sessions``."""
    discovery = Discovery(output_dir, Tmux(tmux.socket_name))
    discovery.scan()  # fills the preview cache: later scans see no file changed
    bare = [
        *f"tmux -L {tmux.socket_name} list-sessions -F".split(),
        "#{session_created} #{session_name}",
    ]
    ours, peer = [], []
    for _ in range(plan.scans):
        ours.append(cpu_of(discovery.scan, tmux))
        peer.append(cpu_of(lambda: subprocess.run(bare, capture_output=True, check=True), tmux))
    for q in (50, 95):
        mine, theirs = percentile(ours, q), percentile(peer, q)
        figure = f"scan CPU p{q} (python, tmux client and server); peer: a bare `list-sessions`"
        report.add(figure, mine, theirs, "ms", "≤ 2 x peer", mine <= 2 * theirs)


def gets(plan: Plan, jupyter: JupyterProcess, tmux: Any, listed: int, report: Report) -> None:
    """GET latency with polls running; then the server's CPU per poll when idle."""
    connection = http.client.HTTPConnection("127.0.0.1", jupyter.port, timeout=10)
    times, next_at = [], time.perf_counter()
    for _ in range(plan.gets):
        time.sleep(max(0.0, next_at - time.perf_counter()))  # the pace: one GET every 10 ms
        next_at += 0.01
        began = time.perf_counter()
        connection.request("GET", "/api/saga/sessions", headers=jupyter.headers)
        body = connection.getresponse().read()
        times.append((time.perf_counter() - began) * 1000)
    connection.close()
    assert len(json.loads(body)) == listed, "the server does not list every session"
    report.quantiles(f"GET /api/saga/sessions, {listed} sessions", times, None, "< 10 ms", 10)
    before, polls = tree_cpu(jupyter.pid) + tmux_cpu(tmux), plan.idle_polls
    time.sleep(POLL * polls)  # the window measured: nothing happens but polls
    per_poll = (tree_cpu(jupyter.pid) + tmux_cpu(tmux) - before) / polls * 1000
    figure = f"server CPU per idle poll (jupyter and tmux), {listed} sessions"
    report.add(figure, per_poll, None, "ms", "< 1.4 s (reference)", per_poll < 1400)


async def new_sessions(
    plan: Plan, jupyter: JupyterProcess, tmux: Any, output_dir: Path, report: Report
) -> None:
    """From a new session to the channel frame listing it, with and without an output file."""
    frames: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

    def arrived(text: str, _: int) -> None:
        frames.put_nowait((text, time.perf_counter()))

    channel = await timed_connect(jupyter.port, "/api/saga/channels", jupyter.headers, arrived)
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        for with_file, count in ((True, plan.new_sessions), (False, plan.new_without_file)):
            for i in range(count):
                # Random pauses: a session started right after a poll would always wait a whole one.
                await asyncio.sleep(
                    random.uniform(0.05, 0.2) if with_file else random.uniform(0, POLL)
                )
                session = name("new" if with_file else "nofile", i)
                start(tmux, [session])
                began = time.perf_counter()
                if with_file:
                    (output_dir / f"{session}.out").write_text(f"[worker] {session} starting\n")
                while True:
                    text, at = await asyncio.wait_for(frames.get(), 3 * POLL + 5)
                    if session in text and session in (
                        s["name"] for s in json.loads(text)["sessions"]
                    ):
                        times[with_file].append((at - began) * 1000)
                        break
    finally:
        channel.close()
    figure = "new session on the channel, with its output file"
    report.quantiles(figure, times[True], None, "< 1 s", 1000)
    slowest, bound = max(times[False]), (POLL + 0.5) * 1000
    figure, target = "new session on the channel, tmux session only, slowest", f"≤ {bound:g} ms"
    report.add(figure, slowest, None, "ms", f"{target} (poll_interval + 0.5 s)", slowest <= bound)


def store(plan: Plan, tmux: Any, output_dir: Path, workdir: Path, report: Report) -> None:
    """Store writes beside the disk's floor; writes across idle polls; session detail."""

    def records() -> dict[str, SessionRecord]:  # new: as a poll makes them for new sessions
        made = {}
        for i in range(1000):
            command = f"claude -p 'story {i}'" if i % 3 else None
            made[name("story", i)] = SessionRecord(name("story", i), "running", 1.795e9 + i,
                                                   None, 1.795e9 + 100 + i, command)  # fmt: skip
        return made

    def floor(content: bytes) -> None:  # what the disk alone costs: the bytes, synced twice
        with (workdir / "floor.json").open("wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        directory = os.open(workdir, os.O_RDONLY)
        os.fsync(directory)
        os.close(directory)

    report.case = "store"
    gc.collect()  # as the server does once started: a full collection of the heap the earlier
    gc.freeze()  # cases left would fall in one of these writes
    new, disk = [], []  # interleaved: a hiccup of the disk or the machine falls on both alike
    for k in range(plan.store_runs):
        target, fresh = MetadataStore(workdir / f"{k}.json"), records()
        new.append(timed(target.save, fresh))
        disk.append(timed(floor, (workdir / f"{k}.json").read_bytes()))
    changing, sessions = MetadataStore(workdir / "changing.json"), records()
    changing.save(sessions)
    one = []
    for session in list(sessions)[: plan.store_runs]:
        sessions[session] = dataclasses.replace(sessions[session], end_time=1.796e9)
        one.append(timed(changing.save, sessions))
    content = (workdir / "changing.json").read_bytes()
    figure = "write of 1,000 new sessions; peer: the disk's floor (same bytes, 2 fsyncs)"
    report.quantiles(figure, new, disk, "≤ 10 ms", 10)
    report.quantiles("write of 1,000 sessions, one changed", one, None, "≤ 10 ms", 10)
    report.notes.append(f"the store file of 1,000 sessions: {len(content) / 1024:.0f} KiB")
    discovery = Discovery(output_dir, Tmux(tmux.socket_name))
    state = MetadataStore(workdir / "polls.json", output_dir=output_dir)
    poller = Poller(discovery, state, POLL, logging.getLogger())
    poller._scan_blocking()
    first = poller.store_writes
    for _ in range(plan.scans):
        poller._scan_blocking()
    idle = poller.store_writes - first
    report.add("writes on first sight of the sessions", first, None, "", "1", first == 1)
    report.add(f"writes across {plan.scans} polls, nothing changed", idle, None, "", "0", idle == 0)
    session = name("story", 0)
    for command in ("new-window", "new-window", "split-window"):
        tmux.cmd(command, "-d", "-t", f"={session}:", "sleep 3600")
    detail = [timed(discovery.tmux.windows, session) for _ in range(plan.store_runs)]
    assert len(discovery.tmux.windows(session) or []) == 3
    figure = "session detail (3 windows, 4 panes: one tmux call)"
    report.quantiles(figure, detail, None, "< 20 ms", 20)


def command_line(plan: Plan, tmux: Any, output_dir: Path, listed: int, report: Report) -> None:
    """``saga-jupyter ls`` and ``tail``, start to exit, beside the bare tools a user has."""
    report.case = "command line"
    where = ["--output-dir", str(output_dir), "--tmux-socket", tmux.socket_name]
    ours = [sys.executable, "-m", "saga_jupyter"]
    one = name("story", 0)  # running, with an output file; the only session of story-0
    commands = {
        f"`saga-jupyter ls`, {listed} sessions; peer: `tmux ls`": (
            [*ours, "ls", *where],
            ["tmux", "-L", tmux.socket_name, "list-sessions"],
        ),
        "`saga-jupyter tail NAME`; peer: `tail`": (
            [*ours, "tail", one, *where],
            ["tail", "-n", "10", str(output_dir / f"{one}.out")],
        ),
        f"`saga-jupyter tail STORY` (a scan of {listed}); peer: `tail`": (
            [*ours, "tail", "story-0", *where],
            ["tail", "-n", "10", str(output_dir / f"{one}.out")],
        ),
        "the interpreter alone, `python -c pass` (the floor)": ([sys.executable, "-c", "pass"], []),
    }
    # Compiled once, as an installed wheel is: not the sources on every start, as with
    # PYTHONDONTWRITEBYTECODE (the first, uncounted run of each command writes the cache).
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(output_dir.parent / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for figure, (mine, theirs) in commands.items():
        times: dict[str, list[float]] = {"ours": [], "peer": []}
        sides = [("ours", mine), ("peer", theirs)] if theirs else [("ours", mine)]
        for run in range(plan.cli_runs + 1):  # in turn: a hiccup of the machine hits both alike
            for side, command in sides:
                started = functools.partial(subprocess.run, command, cwd=REPO, env=env,
                                            check=True, capture_output=True,
                                            stdin=subprocess.DEVNULL)  # fmt: skip
                took = timed(started)
                if run:
                    times[side].append(took)
        report.details[f"command line: {figure}"] = times
        ours_ms = percentile(times["ours"], 50)
        if not theirs:
            report.add(f"p50, {figure}", ours_ms, None, "ms")
            continue
        peer_ms = percentile(times["peer"], 50)
        report.add(f"p50, {figure}", ours_ms, peer_ms, "ms", "< 300 ms", ours_ms < 300)


async def run(plan: Plan, workdir: Path, tmux: Any, report: Report) -> None:
    """Start the sessions, write their files; measure."""
    report.case = "sessions"
    output_dir = workdir / "sessions"
    output_dir.mkdir()
    running = [name("story", i) for i in range(plan.sessions)]
    completed = [name("done", i) for i in range(plan.sessions // 5)]
    log(f"{len(running)} tmux sessions, {len(running) // 2 + len(completed)} output files")
    start(tmux, running)
    for filename in [f"{s}.out" for s in running[::2] + completed] + [
        f"{s}.out.1" for s in completed
    ]:
        (output_dir / filename).write_bytes(worker_output(4096))  # .out.1: rotated, passed over
    log(f"scan CPU, {plan.scans} scans")
    scan_cpu(plan, tmux, output_dir, report)
    listed = len(running) + len(completed)
    traits = {
        "output_dir": output_dir,
        "tmux_socket_name": tmux.socket_name,
        "state_file": workdir / "state.json",
    }
    args = [f"--SagaJupyterApp.{trait}={value}" for trait, value in traits.items()]
    with JupyterProcess(workdir, *args) as jupyter:
        log(f"{plan.gets} GETs, then {plan.idle_polls} idle polls")
        await asyncio.to_thread(gets, plan, jupyter, tmux, listed, report)
        log("new sessions on the channel")
        await new_sessions(plan, jupyter, tmux, output_dir, report)
    log("store")
    store(plan, tmux, output_dir, workdir, report)
    log(f"command line, {plan.cli_runs} runs of each command")
    command_line(plan, tmux, output_dir, listed, report)
