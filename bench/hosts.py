"""Many hosts: a front server whose ``remotes`` are several servers of many sessions each.

The list through the front server (merged from every remote) beside one remote's own; the
latency of a line appended on a remote to its frame, for viewers of remote logs through the
front server beside the same viewers on the remotes directly (one hop added); the front
server's CPU and memory meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from libtmux.server import Server

from bench import Plan, Report, churn, log, percentile, worker_output
from tests.harness import (
    LINE_TEXT,
    JupyterProcess,
    Writer,
    now_ns,
    rss_bytes,
    stat_fields,
    timed_connect,
    tree_cpu,
)

SIZES = {"full": (5, 100, 20), "quick": (2, 10, 4)}  # remotes, sessions each, viewers
SETTLE = 60.0  # seconds for the front server to list every remote's sessions
MARK = LINE_TEXT[:20]


def session(remote: int, i: int) -> str:
    """The i-th session of the remote-th host."""
    return f"saga__host{remote}__s{i}__1"


def start_remote(workdir: Path, tmux: Server, remote: int, sessions: int, viewed: int) -> Any:
    """A remote with ``sessions`` sessions: the first ``viewed`` running (tmux), the rest done."""
    output_dir = workdir / f"out-{remote}"
    output_dir.mkdir()
    for i in range(sessions):
        (output_dir / f"{session(remote, i)}.out").write_bytes(worker_output(2048))
    for i in range(viewed):
        tmux.cmd("new-session", "-d", "-s", session(remote, i), "sleep 3600")
    args = (
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
        f"--SagaJupyterApp.state_file={workdir / f'state-{remote}.json'}",
    )
    jupyter = JupyterProcess(workdir, *args)
    token_file = workdir / f"token-{remote}"
    token_file.write_text(jupyter.token)
    return jupyter, output_dir, token_file


def list_timings(server: JupyterProcess, gets: int) -> list[float]:
    """Milliseconds of each of ``gets`` GETs of the whole list."""
    timings = []
    for _ in range(gets):
        request = urllib.request.Request(server.url + "api/saga/sessions", headers=server.headers)
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def latencies(
    viewers: list[tuple[JupyterProcess, str, str | None]],
    paths: list[str],
    plan: Plan,
) -> list[float]:
    """Write lines for ``plan.seconds``; each viewer's write → frame latencies (ms) after warmup."""
    found: list[float] = []
    began = now_ns() + int(plan.warmup * 1e9)

    def on_text(text: str, arrival: int) -> None:
        # Session lists (500 sessions through the front, 20 viewers) are not parsed: parsing
        # them here delayed the reading of the log frames behind them, and so their latency.
        if not text.startswith('{"type": "logs:data"'):
            return
        frame = json.loads(text)
        for line in frame["data"].splitlines():
            if MARK in line:
                written = int(line.split(" ", 2)[1])
                if written >= began:
                    found.append((arrival - written) / 1e6)

    sockets = []
    for server, name, host in viewers:
        socket = await timed_connect(server.port, "/api/saga/channels", server.headers, on_text)
        frame: dict[str, Any] = {"type": "subscribe:logs", "sessionName": name}
        if host is not None:
            frame["host"] = host
        socket.send(json.dumps(frame))
        sockets.append(socket)
    await asyncio.sleep(1.0)  # the initial frames arrive; then the lines that count
    writer = Writer(paths, plan.rate, plan.seconds)
    try:
        await writer.start()
        await writer.finished()
        await asyncio.sleep(0.5)  # the last lines' frames
    finally:
        writer.stop()
        for socket in sockets:
            socket.close()
    return found


async def run(plan: Plan, workdir: Path, tmux: Server, report: Report) -> None:
    """Start the remotes and the front server; measure the list, the latency, the front's cost."""
    report.case = "hosts"
    count, sessions, viewer_count = SIZES.get(plan.mode, SIZES["quick"])
    per_remote = max(1, viewer_count // count)  # viewed (running) sessions on each remote
    remotes, sockets = [], []
    front = None
    try:
        for r in range(count):
            server = Server(socket_name=f"{tmux.socket_name}-{r}")
            sockets.append(server)
            remotes.append(start_remote(workdir, server, r, sessions, per_remote))
        log(f"{count} remotes x {sessions} sessions started")
        config = workdir / "front.json"
        entries = [
            {"name": f"host{r}", "url": jupyter.url, "token_file": str(token_file)}
            for r, (jupyter, _, token_file) in enumerate(remotes)
        ]
        config.write_text(json.dumps({"SagaJupyterApp": {"remotes": entries}}))
        front_dir = workdir / "front-out"
        front_dir.mkdir()
        front = JupyterProcess(
            workdir,
            f"--config={config}",
            f"--SagaJupyterApp.output_dir={front_dir}",
            f"--SagaJupyterApp.tmux_socket_name={tmux.socket_name}",
            f"--SagaJupyterApp.state_file={workdir / 'state-front.json'}",
        )
        deadline = time.monotonic() + SETTLE
        while len(front.get("api/saga/sessions")) < count * sessions:
            if time.monotonic() > deadline:
                raise RuntimeError("the front server did not list every remote's sessions")
            await asyncio.sleep(0.1)
        log(f"{plan.gets} GETs of the merged list")
        merged = await asyncio.to_thread(list_timings, front, plan.gets)
        direct = await asyncio.to_thread(list_timings, remotes[0][0], plan.gets)
        report.add(
            f"list p99 ({count} x {sessions} sessions; peer: one remote's own)",
            percentile(merged, 99), percentile(direct, 99), "ms", "≤ 20 ms",
            percentile(merged, 99) <= 20,
        )  # fmt: skip
        viewed = [(r, i) for r in range(count) for i in range(per_remote)]
        viewed_names = [(r, session(r, i)) for r, i in viewed]
        paths = [str(remotes[r][1] / f"{session(r, i)}.out") for r, i in viewed]
        log(f"{len(viewed)} viewers directly on the remotes")
        on_remotes = [(remotes[r][0], session(r, i), None) for r, i in viewed]
        direct_latency = await latencies(on_remotes, paths, plan)
        log(f"{len(viewed)} viewers through the front server")
        through = [(front, session(r, i), f"host{r}") for r, i in viewed]
        cpu = tree_cpu(front.pid)
        began = time.monotonic()
        front_latency = await latencies(through, paths, plan)
        busy = (tree_cpu(front.pid) - cpu) / (time.monotonic() - began)
        report.quantiles(f"append → frame, {len(viewed)} viewers via front", front_latency,
                         direct_latency, target="")  # fmt: skip
        added = percentile(front_latency, 50) - percentile(direct_latency, 50)
        report.add("p50 added by one hop", added, None, "ms", "≤ 1 ms", added <= 1)
        report.add("front server CPU while streaming", busy, None, "%")
        fields = stat_fields(front.pid)
        rss = rss_bytes(fields) / (1 << 20) if fields else float("nan")
        report.add("front server RSS", rss, None, "MiB")
        report.details.update(merged_ms=merged[:50], frames=len(front_latency))
        if plan.churn_seconds > 0:
            tmux_and_dirs = [(sockets[r], remotes[r][1]) for r in range(count)]
            await churn.run(plan, front, tmux_and_dirs, viewed_names, paths, report)
    finally:
        if front is not None:
            front.stop()
        for jupyter, _, _ in remotes:
            jupyter.stop()
        for server in sockets:
            server.kill()
