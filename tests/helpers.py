"""Test helpers: server config, tmux workers, bounded polls (never bare sleeps)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from libtmux.server import Server
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from saga_jupyter.core.saga.names import output_path
from saga_jupyter.core.watch.dirwatch import watch_kind
from saga_jupyter.core.watch.tailer import Tailer
from tests.harness import JupyterProcess as JupyterProcess  # where the tests found them
from tests.harness import wait_until as wait_until


def saga_config(server: Server, output_dir: Path, **traits: Any) -> dict[str, Any]:
    """A ``jp_server_config`` enabling the extension on a private tmux socket and output dir."""
    return {
        "ServerApp": {
            "jpserver_extensions": {"saga_jupyter": True},
            "allow_unauthenticated_access": False,
        },
        "SagaJupyterApp": {
            "output_dir": str(output_dir),
            "tmux_socket_name": server.socket_name,
            **traits,
        },
    }


def start_worker(server: Server, name: str, output_dir: Path | None = None) -> None:
    """Start a detached tmux session that runs until killed (writing a line if given a dir)."""
    command = "sleep 600"
    if output_dir is not None:
        command = f"echo started >> {output_dir / (name + '.out')}; sleep 600"
    server.cmd("new-session", "-d", "-s", name, command)


def kill_worker(server: Server, name: str) -> None:
    """End a tmux session by its exact name."""
    server.cmd("kill-session", "-t", f"={name}")


async def wait_for(
    condition: Callable[[], Any | Awaitable[Any]], timeout: float = 5.0, interval: float = 0.02
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        await asyncio.sleep(interval)


# The threads an engine runs with each kind of directory watch (core/watch/dirwatch.py); ``None``:
# not all named by us (watchdog's native observer on Linux has a thread of its own inside).
ENGINE_THREADS: dict[str, set[str] | None] = {
    "inotify": {"saga-engine", "saga-dirwatch"},
    "polling": {"saga-engine", "saga-dirwatch", "saga-dirwatch-events"},
    "native": None,
}


def is_engine_threads(names: set[str]) -> bool:
    """Whether ``names`` are the threads of one engine and its watch, as the kind in force has."""
    expected = ENGINE_THREADS[watch_kind()]
    return "saga-engine" in names if expected is None else names == expected


def inotify_watches(count: int) -> int:
    """How many inotify watches ``count`` directory watches make (polling makes none)."""
    return 0 if watch_kind() == "polling" else count


def status_of(saga_app: Any, name: str) -> str | None:
    """The status the extension lists a session with, or ``None`` when it is not listed."""
    info = saga_app.poller.find(name)
    return None if info is None else str(info.status)


def own_threads() -> set[threading.Thread]:
    """Threads but the event loop's executor pool.

    What a component under test started and must stop: compare before and after.
    """
    return {t for t in threading.enumerate() if not t.name.startswith(("asyncio_", "ThreadPool"))}


def inotify_watches_on(directory: Path) -> int:
    """How many inotify watches of this process are on ``directory`` (from /proc fdinfo).

    Only the inotify kinds of watch make them: with another, the count is that of inotify's.
    """
    inode = f"ino:{directory.stat().st_ino:x} "
    count = 0
    for fdinfo in Path("/proc/self/fdinfo").iterdir():
        try:
            text = fdinfo.read_text()
        except OSError:
            continue
        count += sum(line.startswith("inotify") and inode in line for line in text.splitlines())
    return count


def holds_open(path: Path) -> bool:
    """Whether this process has ``path`` open (from /proc/self/fd)."""
    target = str(path.resolve())
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if os.readlink(fd) == target:
                return True
        except OSError:
            continue
    return False


def read_bytes_of_this_process() -> int:
    """Bytes this process has read through read(2) so far (Linux /proc/self/io ``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


class Channel:
    """A test client of ``/api/saga/channels``: frames as dicts, reads bounded in time."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, jp_ws_fetch: Any) -> Channel:
        """Connect and take the snapshot frame."""
        channel = cls(await jp_ws_fetch("api", "saga", "channels"))
        first = await channel.receive()
        assert first["type"] == "sessions:updated"
        return channel

    async def send(self, frame: Any) -> None:
        """Send a frame (a dict becomes JSON)."""
        await self.ws.write_message(
            frame if isinstance(frame, (str, bytes)) else json.dumps(frame),
            binary=isinstance(frame, bytes),
        )

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame; fail after ``timeout`` seconds or when the connection closed."""
        message = await asyncio.wait_for(self.ws.read_message(), timeout)
        assert message is not None, f"closed: {self.ws.close_code} {self.ws.close_reason}"
        frame: dict[str, Any] = json.loads(message)
        return frame

    async def reply(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame that is not a session list (those come whenever the list changes)."""
        frame = await self.receive(timeout)
        while frame["type"] == "sessions:updated":
            frame = await self.receive(timeout)
        return frame

    async def receive_log(self, name: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The next ``logs:*`` frame (of ``name`` if given), skipping session lists."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.receive(max(0.001, deadline - time.monotonic()))
            if frame["type"].startswith("logs:") and name in (None, frame["sessionName"]):
                return frame

    async def subscribe(
        self, name: str, offset: int | None = None, view: str | None = None
    ) -> dict[str, Any]:
        """Subscribe to ``name`` (in ``view``, if given) and return the initial frame."""
        frame: dict[str, Any] = {"type": "subscribe:logs", "sessionName": name}
        if offset is not None:
            frame["offset"] = offset
        if view is not None:
            frame["view"] = view
        await self.send(frame)
        return await self.receive_log(name)

    async def read_text(
        self, name: str, until: Callable[[str], bool], timeout: float = 10.0, text: str = ""
    ) -> tuple[str, list[dict[str, Any]]]:
        """Append ``data`` of log frames to ``text`` until ``until(text)``; also the frames."""
        frames = []
        deadline = time.monotonic() + timeout
        while not until(text):
            frame = await self.receive_log(name, max(0.001, deadline - time.monotonic()))
            assert frame["type"] == "logs:data", frame
            frames.append(frame)
            text = frame["data"] if frame["reset"] else text + frame["data"]
        return text, frames

    def close(self) -> None:
        """Close the connection."""
        self.ws.close()


async def channel_of(jupyter: JupyterProcess) -> Channel:
    """A :class:`Channel` connected to a server in its own process, past its snapshot frame."""
    request = HTTPRequest(
        jupyter.url.replace("http", "ws", 1) + "api/saga/channels",
        headers={"Authorization": f"token {jupyter.token}"},
        connect_timeout=10,
    )
    channel = Channel(await websocket_connect(request, max_message_size=64 << 20))
    first = await channel.receive()
    assert first["type"] == "sessions:updated"
    return channel


def lab_settings(directory: Path, settings: dict[str, dict[str, Any]]) -> Path:
    """Write JupyterLab user settings (``{"apputils-extension/notification": {...}}``) as a
    person's would be after a first visit; the directory, for ``--LabApp.user_settings_dir``.
    """
    for plugin, values in settings.items():
        path = directory / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return directory


# No "get notified about news?" toast over a screenshot, nor a check for updates.
QUIET_LAB = {"apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}


def hanging_tmux(directory: Path) -> str:
    """A stand-in ``tmux`` (in ``directory/bin``) that never answers; a PATH finding it first."""
    fake = directory / "bin" / "tmux"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    return f"{fake.parent}:/usr/bin:/bin"


def reads_without_waiting(directory: Path) -> bool:
    """Whether the filesystem of ``directory`` reads with ``RWF_NOWAIT`` (a probe file, removed)."""
    probe = directory / ".nowait-probe"
    probe.write_bytes(b"x")
    try:
        with Tailer(probe) as tailer:
            tailer.read_available(bytearray(8))
        return True
    except BlockingIOError:
        return False
    finally:
        probe.unlink()


# --- log streams: sessions with output files, and writers ------------------------------------


async def running(
    saga_app: Any, server: Server, output_dir: Path, name: str, text: str = ""
) -> Path:
    """A running session with an output file holding ``text``, listed by the poller."""
    path = output_path(output_dir, name)
    path.write_text(text)
    start_worker(server, name)
    timeout = saga_app.poller.interval + 2
    await wait_for(lambda: status_of(saga_app, name) == "running", timeout=timeout)
    return path


def random_text(rng: random.Random, lines: int) -> str:
    words = ["alpha", "beta", "⏺ Read(src/app.ts)", "│ 42 lines", "✻ Thinking…", "é", "😀"]
    return "".join(" ".join(rng.choices(words, k=rng.randint(1, 6))) + "\n" for _ in range(lines))


def random_sizes(rng: random.Random, length: int, cuts: int) -> list[int]:
    """Sizes of the pieces up to the last of ``cuts`` random cuts in ``length`` bytes."""
    at = sorted(rng.sample(range(1, length), cuts))
    return [b - a for a, b in zip([0, *at[:-1]], at, strict=True)]


def write_in_pieces(path: Path, data: bytes, sizes: list[int], pause: float = 0.0) -> None:
    """Append ``data`` in pieces of the given sizes (a writer's pace, on its own thread)."""
    with path.open("ab", buffering=0) as file:
        position = 0
        for size in sizes:
            file.write(data[position : position + size])
            position += size
            if pause:
                time.sleep(pause)  # the writer's pace, not a wait for a condition
        file.write(data[position:])


async def burst_arrives(
    channel: Channel, path: Path, name: str, rng: random.Random, lines: int, before: str = ""
) -> tuple[str, list[dict[str, Any]]]:
    """Append ``lines`` random lines in random pieces; all of them arrive, with no further write.

    ``before`` is what the subscription received already. Returns it with the burst appended,
    and the burst's frames.
    """
    burst = random_text(rng, lines).encode()
    await asyncio.to_thread(write_in_pieces, path, burst, random_sizes(rng, len(burst), lines - 1))
    expected = before + burst.decode()
    text, frames = await channel.read_text(name, lambda t: len(t) >= len(expected), text=before)
    assert text == expected
    return expected, frames


@contextmanager
def bound_socket(path: Path) -> Iterator[socket.socket]:
    """A Unix socket listening at ``path`` (bound where the path is short, then moved there)."""
    short = Path(tempfile.mkdtemp(prefix="saga-"))  # sun_path holds 108 bytes: tmp_path may not
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        try:
            server.bind(str(short / "s"))
            server.listen()
            os.rename(short / "s", path)
            yield server
        finally:
            shutil.rmtree(short)


def many_records(path: Path, count: int, running_every: int, output_dir: Path | None = None) -> int:
    """Write a store file of ``count`` sessions ``saga__e__s__<i>``, started a second apart.

    Every ``running_every``-th one is running, the others completed a minute after their start.
    Written as text (a few seconds for 10^6 records, not minutes); returns its size.
    """
    first = 1795343400  # 2026-11-22T10:30:00Z
    lines = []
    for index in range(count):
        start = time.strftime('"%Y-%m-%dT%H:%M:%SZ"', time.gmtime(first + index))
        end = time.strftime('"%Y-%m-%dT%H:%M:%SZ"', time.gmtime(first + index + 60))
        running = index % running_every == 0
        lines.append(
            f'{{"name": "saga__e__s__{index}", "id": "{uuid.UUID(int=index)}", '
            f'"status": "{"running" if running else "completed"}", "startTime": {start}, '
            f'"endTime": {"null" if running else end}, "lastActivity": null}}'
        )
    whose = f'"outputDir": {json.dumps(os.path.realpath(output_dir))}, ' if output_dir else ""
    text = f'{{"version": 1, {whose}"sessions": [\n' + ",\n".join(lines) + "\n]}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return len(text)


# --- today's SAGA (v4): a worker that fails the way SAGA's does -----------------------------

V4_ERROR = "Error: No task files found in /project/.saga/stories/x/tasks"


def start_failing_v4_worker(server: Server, name: str, output_dir: Path) -> None:
    """A v4 worker that says something, writes its first JSONL line, then fails, as SAGA's
    does: the error on its pane only, and the pane gone at once.

    Between the line and the error it waits (at most 10 s) until its pane is piped, as the
    real one runs git and gh for seconds there.
    """
    jsonl = output_dir / f"{name}.jsonl"
    line = '{"type":"saga_worker","subtype":"pipeline_start","storyId":"x"}'
    command = (
        "echo 'worker starting'; "
        f"printf '%s\\n' '{line}' >> '{jsonl}'; "
        'i=0; while [ "$(tmux display -p -t "$TMUX_PANE" \'#{pane_pipe}\')" != 1 ]'
        " && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; "
        f"printf '\\033[31m%s\\033[0m\\n' '{V4_ERROR}' >&2; exit 1"
    )
    server.cmd("new-session", "-d", "-s", name, command)
