"""The hosts case's churn: is the front server's memory flat while remotes and viewers come and go?

On every remote a pool of sessions is started and ended in turn (the remote's list changes,
the front merges and sends it again), while viewers connect to the front server, subscribe
to a remote log (a lane opens on that remote), and go, half unsubscribing first, half just
closing. Lines keep being written to the viewed logs. The front server's RSS is sampled every
second; the first window's median is set beside the last's.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
from collections import deque
from pathlib import Path

from libtmux.server import Server

from bench import Plan, Report, log
from tests.harness import JupyterProcess, TimedSocket, Writer, rss_bytes, stat_fields, timed_connect

POOL = 10  # sessions per remote started and ended in turn
TICK = 0.5  # seconds between two changes (a session toggled, a viewer come, one gone)
VIEWERS = 10  # viewers open at once; each tick the oldest goes and a new one comes
WINDOW = 60.0  # seconds of RSS compared at each end (shorter for short runs)


def churn_name(remote: int, k: int) -> str:
    """The k-th churned session of the remote-th host."""
    return f"saga__host{remote}__c{k}__1"


class Churn:
    """Sessions toggled on the remotes and viewers coming and going through the front server."""

    def __init__(
        self,
        front: JupyterProcess,
        remotes: list[tuple[Server, Path]],
        viewed: list[tuple[int, str]],
    ) -> None:
        self.front = front
        self.remotes = remotes  # each remote's tmux server and output directory
        self.targets = viewed + [
            (r, churn_name(r, k)) for r in range(len(remotes)) for k in range(POOL)
        ]
        self.viewers: deque[tuple[TimedSocket, str]] = deque()
        self.frames = 0
        self.random = random.Random(23)

    def toggle(self, step: int) -> None:
        """Start or end one pooled session (in a thread: tmux calls block)."""
        remote, k = step % len(self.remotes), (step // len(self.remotes)) % POOL
        tmux, output_dir = self.remotes[remote]
        name = churn_name(remote, k)
        if tmux.has_session(name):
            tmux.cmd("kill-session", "-t", name)
        else:
            with (output_dir / f"{name}.out").open("ab") as out:
                out.write(f"started at step {step}\n".encode())
            tmux.cmd("new-session", "-d", "-s", name, "sleep 3600")

    def _on_text(self, text: str, arrival: int) -> None:
        self.frames += 1

    async def come_and_go(self) -> None:
        """One viewer of a random remote log comes; past :data:`VIEWERS`, the oldest goes."""
        remote, name = self.random.choice(self.targets)
        front = self.front
        socket = await timed_connect(front.port, "/api/saga/channels", front.headers, self._on_text)
        socket.send(
            json.dumps({"type": "subscribe:logs", "sessionName": name, "host": f"host{remote}"})
        )
        self.viewers.append((socket, name))
        if len(self.viewers) > VIEWERS:
            old, followed = self.viewers.popleft()
            if self.random.random() < 0.5:
                old.send(json.dumps({"type": "unsubscribe:logs", "sessionName": followed}))
            old.close()

    def close(self) -> None:
        """Close every viewer still open."""
        while self.viewers:
            self.viewers.popleft()[0].close()


async def run(
    plan: Plan,
    front: JupyterProcess,
    remotes: list[tuple[Server, Path]],
    viewed: list[tuple[int, str]],
    paths: list[str],
    report: Report,
) -> None:
    """Churn for ``plan.churn_seconds``; the front server's RSS at the start and at the end."""
    seconds = plan.churn_seconds
    log(f"{seconds:.0f} s of churn")
    churn = Churn(front, remotes, viewed)
    writer = Writer(paths, 20, seconds)
    samples: list[tuple[float, float]] = []
    began = time.monotonic()
    try:
        await writer.start()
        step = 0
        while (elapsed := time.monotonic() - began) < seconds:
            await asyncio.to_thread(churn.toggle, step)
            await churn.come_and_go()
            if step % int(1 / TICK) == 0:
                fields = stat_fields(front.pid)
                if fields is not None:
                    samples.append((elapsed, rss_bytes(fields) / (1 << 20)))
            step += 1
            await asyncio.sleep(max(0.0, began + step * TICK - time.monotonic()))
    finally:
        churn.close()
        writer.stop()
    window = min(WINDOW, seconds / 4)
    first = statistics.median(rss for at, rss in samples if at <= window)
    last = statistics.median(rss for at, rss in samples if at >= seconds - window)
    minutes = f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
    figure = (
        f"front server RSS, last {window:.0f} s of {minutes} churn (peer: first {window:.0f} s)"
    )
    report.add(figure, last, first, "MiB", "≤ first + 10 %", last <= first * 1.1)
    report.notes.append(
        f"churn: {step} steps ({step} session starts/ends, {step} viewers come and gone), "
        f"{churn.frames} frames to the viewers"
    )
    report.details.update(churn_rss=samples)
