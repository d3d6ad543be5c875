"""A restarted server: it remembers every session's times; its clients resume by offset."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from libtmux.server import Server
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests.helpers import Channel, JupyterProcess, kill_worker, start_worker, wait_for, wait_until


def test_times_survive_a_restart(server: Server, output_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    args = (
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={server.socket_name}",
        f"--SagaJupyterApp.state_file={state}",
        "--SagaJupyterApp.poll_interval=0.3",
    )
    start_worker(server, "saga__e__running__1", output_dir)
    start_worker(server, "saga__e__ends__2", output_dir)
    (output_dir / "saga__e__old__3.out").write_text("from before\n")

    first = JupyterProcess(tmp_path, *args)
    try:
        wait_until(lambda: len(first.get("api/saga/sessions")) == 3, timeout=10)
        kill_worker(server, "saga__e__ends__2")

        def ended() -> list[dict[str, object]] | None:
            sessions = first.get("api/saga/sessions")
            done = {s["name"] for s in sessions if s["status"] == "completed"}
            return sessions if done == {"saga__e__ends__2", "saga__e__old__3"} else None

        before = wait_until(ended, timeout=10)
        wait_until(lambda: state.exists() and "saga__e__ends__2" in state.read_text(), timeout=5)
    finally:
        first.stop()

    second = JupyterProcess(tmp_path, *args)
    try:
        after = second.get("api/saga/sessions")
        assert second.get("api/saga/status")["store"]["error"] is None
    finally:
        second.stop()
    times = [(s["name"], s["status"], s["startTime"], s["endTime"]) for s in before]
    assert [(s["name"], s["status"], s["startTime"], s["endTime"]) for s in after] == times
    assert all(s["startTime"] for s in after)
    assert next(s for s in after if s["name"] == "saga__e__ends__2")["endTime"] is not None


class ResumingClient:
    """A channel client as the JupyterLab front end is one: reconnects, resumes by offset."""

    def __init__(self, url: str, token: str, names: list[str]) -> None:
        self.url, self.token = url.replace("http", "ws", 1) + "api/saga/channels", token
        self.text = dict.fromkeys(names, "")
        self.offset = dict.fromkeys(names, 0)
        self.connections = 0
        self.errors: list[dict[str, Any]] = []

    async def _connect(self) -> Channel | None:
        request = HTTPRequest(self.url, headers={"Authorization": f"token {self.token}"})
        try:
            ws = await websocket_connect(request)
        except (OSError, HTTPClientError):
            return None  # the server is not back yet
        self.connections += 1
        channel = Channel(ws)
        await channel.receive()  # the session list
        for name, offset in self.offset.items():
            await channel.send({"type": "subscribe:logs", "sessionName": name, "offset": offset})
        return channel

    async def follow(self, done: Callable[[], bool]) -> None:
        """Take every frame until ``done()``, reconnecting whenever the connection ends."""
        while not done():
            channel = await wait_for(self._connect, timeout=60, interval=0.1)
            while not done():
                try:
                    message = await asyncio.wait_for(channel.ws.read_message(), 0.2)
                except asyncio.TimeoutError:
                    continue
                if message is None:
                    break  # the server went away: reconnect
                frame = json.loads(message)
                if frame["type"] == "logs:error":
                    self.errors.append(frame)  # a stream that will never resume
                if frame["type"] == "logs:data":
                    assert not frame["reset"], frame
                    name = frame["sessionName"]
                    self.text[name] += frame["data"]
                    self.offset[name] = frame["offset"]
            channel.close()


def slow_tmux(directory: Path) -> str:
    """A PATH whose ``tmux`` answers, half a second late."""
    fake = directory / "slow" / "tmux"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(f'#!/bin/sh\nsleep 0.5\nexec {shutil.which("tmux")} "$@"\n')
    fake.chmod(0o755)
    return f"{fake.parent}:{os.environ['PATH']}"


async def test_clients_resume_by_offset_across_a_restart(
    server: Server, output_dir: Path, tmp_path: Path
) -> None:
    names = [f"saga__e__live__{i}" for i in range(3)]
    paths = [output_dir / f"{name}.out" for name in names]
    for name, path in zip(names, paths, strict=True):
        path.write_text("")
        start_worker(server, name)
    args = (
        f"--SagaJupyterApp.output_dir={output_dir}",
        f"--SagaJupyterApp.tmux_socket_name={server.socket_name}",
        "--SagaJupyterApp.poll_interval=0.3",
        f"--SagaJupyterApp.state_file={tmp_path / 'state.json'}",
    )
    first = JupyterProcess(tmp_path, *args)
    writing = threading.Event()
    writing.set()

    def write() -> None:
        lines = 0
        while writing.is_set():
            for path in paths:
                with path.open("a") as file:
                    file.write(f"line {lines} ✻ of {path.stem}\n")
            lines += 1
            time.sleep(0.005)  # a worker's pace, not a wait for a condition

    writer = threading.Thread(target=write)
    clients = [ResumingClient(first.url, first.token, names) for _ in range(4)]
    finished = False
    tasks = [asyncio.ensure_future(c.follow(lambda: finished)) for c in clients]
    second = None
    try:
        writer.start()
        await wait_for(lambda: all(len(c.text[names[0]]) > 1000 for c in clients), timeout=10)
        await asyncio.to_thread(first.stop)  # the clients' connections end with it
        # Its first scan takes a while (many sessions, a busy tmux): clients connect meanwhile.
        second = await asyncio.to_thread(
            JupyterProcess,
            tmp_path,
            *args,
            port=first.port,
            token=first.token,
            env={"PATH": slow_tmux(tmp_path)},
        )
        await wait_for(lambda: all(c.connections == 2 for c in clients), timeout=30)
        assert not [c.errors for c in clients if c.errors], "a stream was refused on resuming"
        await wait_for(lambda: all(len(c.text[names[0]]) > 5000 for c in clients), timeout=10)
        writing.clear()
        await asyncio.to_thread(writer.join)
        sizes = {name: path.stat().st_size for name, path in zip(names, paths, strict=True)}
        await wait_for(lambda: all(c.offset == sizes for c in clients), timeout=10)
    finally:
        writing.clear()
        finished = True
        await asyncio.gather(*tasks, return_exceptions=True)
        first.stop()
        if second is not None:
            second.stop()
    for task in tasks:
        task.result()  # no client failed
    for client in clients:
        for name, path in zip(names, paths, strict=True):
            assert client.text[name] == path.read_text(), name  # no gap, no duplicate
