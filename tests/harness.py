"""What the tests and ``bench/`` share: a Jupyter server launcher, /proc readers, a bare
WebSocket client, a line writer.

Nothing here imports the package under test: a bench measures the server, not this module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import importlib.util
import json
import multiprocessing
import os
import queue
import resource
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455
UPGRADE_DEADLINE = 10.0
WRITER_SLACK = 30.0  # beyond the writing time: the writer process starting, or falling behind
# Where the saga_jupyter this process would import lives (found, not imported): the server runs
# it too. `jupyter server` execs the venv's `jupyter-server` script, whose sys.path starts at
# the venv's bin/, so without this a server started from a git worktree ran the editable
# install's package (the main checkout's code), not the worktree's under test.
_SPEC = importlib.util.find_spec("saga_jupyter")
PACKAGE_ROOT = str(Path(_SPEC.origin).parent.parent) if _SPEC and _SPEC.origin else ""
LINE_TEXT = "[worker] assistant: Reading src/auth/handlers.py to see how requests are validated"


# --- /proc ----------------------------------------------------------------------------------


def now_ns() -> int:
    """CLOCK_MONOTONIC: one clock for the writer process and this one."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name (field 3 onwards), or ``None`` if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def process_tree(root: int) -> dict[int, list[str]]:
    """The stat fields of ``root`` and of every descendant."""
    stats = {int(e.name): stat_fields(int(e.name)) for e in os.scandir("/proc") if e.name.isdigit()}
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(pid)
    tree: dict[int, list[str]] = {}
    pending = [root]
    while pending:
        pid = pending.pop()
        fields = stats.get(pid)
        if fields is not None:
            tree[pid] = fields
            pending.extend(children.get(pid, []))
    return tree


def cpu_seconds(fields: list[str]) -> float:
    """utime + stime + cutime + cstime: a process's CPU and that of the children it reaped."""
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def tree_cpu(root: int) -> float:
    """CPU seconds of a process and all its descendants (see :func:`cpu_seconds`)."""
    return sum(cpu_seconds(fields) for fields in process_tree(root).values())


def own_cpu() -> float:
    """CPU seconds of this process (the client side of a bench or a soak)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes(fields: list[str]) -> int:
    """Resident set size."""
    return int(fields[21]) * PAGE_SIZE


def children(pid: int) -> list[tuple[int, str]]:
    """The processes whose parent is ``pid``, as (pid, command name)."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            stat = Path(entry.path, "stat").read_text()
        except (OSError, ValueError):
            continue
        command, _, fields = stat.partition(" (")[2].rpartition(") ")
        if fields.split()[1] == str(pid):
            found.append((int(entry.name), command))
    return found


def open_fds(pid: int) -> int:
    """How many file descriptors a process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def inotify_watches(pid: int) -> int:
    """How many inotify watches a process holds, over all its inotify descriptors."""
    count = 0
    for fdinfo in Path(f"/proc/{pid}/fdinfo").iterdir():
        with contextlib.suppress(OSError):
            count += sum(line.startswith("inotify ") for line in fdinfo.read_text().splitlines())
    return count


@dataclass(frozen=True)
class Figures:
    """What a process holds at one moment: memory, descriptors, threads, inotify watches."""

    rss: int
    fds: int
    threads: int
    watches: int

    @classmethod
    def of(cls, pid: int) -> Figures:
        """Read them from /proc."""
        fields = stat_fields(pid)
        if fields is None:
            raise ProcessLookupError(pid)
        return cls(rss_bytes(fields), open_fds(pid), int(fields[17]), inotify_watches(pid))

    def peak(self, other: Figures) -> Figures:
        """The larger of each figure."""
        return Figures(*(max(a, b) for a, b in zip(self.row(), other.row(), strict=True)))

    def held(self) -> tuple[int, int, int]:
        """What a server must give back once its clients left: files, threads, watches."""
        return (self.fds, self.threads, self.watches)

    def row(self) -> tuple[int, int, int, int]:
        """The figures in the order of the fields."""
        return (self.rss, self.fds, self.threads, self.watches)


# --- a bare WebSocket client -----------------------------------------------------------------


class TimedSocket(asyncio.Protocol):
    """A bare WebSocket client that hands each text message, with its arrival time, to a callback.

    The latency run reads 4,000 messages a second. tornado's client spent ~200 µs of this
    process's CPU on each (a stream read per frame part, the socket re-registered each time), so
    the bench took 84 % of a core; whenever the scheduler put the writer on the same core, whole
    runs were slow for whichever side was measured. This one parses every frame a ``recv``
    brought, in place. It speaks only what both servers send here: unfragmented, uncompressed
    frames.
    """

    def __init__(self, key: str, on_text: Callable[[str, int], None]) -> None:
        self.accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest())
        self.on_text = on_text
        # Set: text messages go here instead, as their UTF-8 bytes (a catch-up's megabytes:
        # decoding them cost this client as much CPU as the server spent escaping them).
        self.on_bytes: Callable[[bytes, int], None] | None = None
        self.upgraded = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed: str | None = None  # why the connection ended, once it has

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        arrival = now_ns()
        self.buffer += data
        if not self.upgraded.done():
            head, upgraded, rest = bytes(self.buffer).partition(b"\r\n\r\n")
            if not upgraded:
                return
            if not head.startswith(b"HTTP/1.1 101 ") or self.accept not in head:
                self.upgraded.set_exception(ConnectionError(head.partition(b"\r\n")[0].decode()))
                self.close()
                return
            self.upgraded.set_result(None)
            self.buffer = bytearray(rest)
        self._read_frames(arrival)

    def _read_frames(self, arrival: int) -> None:
        buffer, start = self.buffer, 0
        while len(buffer) - start >= 2:
            if not buffer[start] & 0x80:
                raise ConnectionError("a fragmented WebSocket message")
            opcode, length, head = buffer[start] & 0x0F, buffer[start + 1] & 0x7F, start + 2
            if length >= 126:
                size = 2 if length == 126 else 8
                length = int.from_bytes(buffer[head : head + size], "big")
                head += size
            if len(buffer) < head + length:
                break
            payload, start = bytes(buffer[head : head + length]), head + length
            if opcode == 0x1 and self.on_bytes is not None:
                self.on_bytes(payload, arrival)
            elif opcode == 0x1:
                self.on_text(payload.decode(), arrival)
            elif opcode == 0x9:
                self._write(0xA, payload)  # pong
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if payload else None
                self.closed = f"closed by the server: {code} {payload[2:].decode()}"
                self.close()
            elif opcode != 0xA:
                raise ConnectionError(f"an unexpected WebSocket frame (opcode {opcode})")
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.closed or str(exc or "closed by the server")
        if not self.upgraded.done():
            self.upgraded.set_exception(exc or ConnectionError("closed before the upgrade"))

    def send(self, text: str) -> None:
        """Send a text message."""
        self._write(0x1, text.encode())

    def _write(self, opcode: int, payload: bytes) -> None:
        n = len(payload)  # this client sends nothing of 64 KiB or more
        length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        assert self.transport is not None
        self.transport.write(bytes([0x80 | opcode]) + length + mask + masked)

    def close(self) -> None:
        """Drop the connection."""
        if self.transport is not None:
            self.transport.close()


async def timed_connect(
    port: int,
    path: str,
    headers: Mapping[str, str],
    on_text: Callable[[str, int], None],
    timeout: float = UPGRADE_DEADLINE,
) -> TimedSocket:
    """Open a :class:`TimedSocket` on 127.0.0.1:``port`` (asyncio sets TCP_NODELAY on it)."""
    key = base64.b64encode(os.urandom(16)).decode()
    loop = asyncio.get_running_loop()
    _, socket = await loop.create_connection(lambda: TimedSocket(key, on_text), "127.0.0.1", port)
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    assert socket.transport is not None
    socket.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        await asyncio.wait_for(socket.upgraded, timeout)
    except BaseException:
        socket.close()
        raise
    return socket


# --- the writer (its own process, so the reading loop cannot delay it) -----------------------


def write_lines(paths: list[str], rate: int, seconds: float, results: Any) -> None:
    """Append ``rate`` lines a second to every file for ``seconds``, evenly spread.

    One whole line per ``write``, each carrying its sequence number in its file and its write
    time. Puts ``("start", 0)``, then ``("end", (elapsed s, CPU s))`` on ``results``: the CPU of
    the writing only, not of this process importing the bench.
    """
    fds = [os.open(path, os.O_WRONLY | os.O_APPEND) for path in paths]
    step = 1e9 / (rate * len(fds))
    results.put(("start", 0))
    start, cpu = now_ns(), own_cpu()
    try:
        for k in range(int(rate * seconds) * len(fds)):
            wait = start + k * step - now_ns()
            if wait > 0:
                time.sleep(wait / 1e9)
            seq, index = divmod(k, len(fds))
            os.write(fds[index], f"L{seq:07d} {now_ns()} {LINE_TEXT}\n".encode())
    finally:
        for fd in fds:
            os.close(fd)
    results.put(("end", ((now_ns() - start) / 1e9, own_cpu() - cpu)))


class Writer:
    """The writer process: started by :meth:`start`, killed by :meth:`stop` if still running."""

    def __init__(self, paths: list[str], rate: int, seconds: float) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of this process's threads
        self.results = context.Queue()
        self.process = context.Process(
            target=write_lines, args=(paths, rate, seconds, self.results), daemon=True
        )
        self.timeout = seconds + WRITER_SLACK

    async def start(self) -> None:
        """Start the process and wait until it starts writing."""
        self.process.start()
        await self.expect("start")

    async def finished(self) -> tuple[float, float]:
        """Wait for the end: the writing time and the writer's CPU time, in seconds."""
        result: tuple[float, float] = await self.expect("end")
        return result

    async def expect(self, kind: str) -> Any:
        """The next message from the writer, which must be of ``kind``."""
        got, value = await asyncio.to_thread(self._next)
        if got != kind:
            raise RuntimeError(f"writer sent {got!r}, expected {kind!r}")
        return value

    def _next(self) -> tuple[str, Any]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                message: tuple[str, Any] = self.results.get(timeout=0.2)
                return message
            if not self.process.is_alive():
                raise RuntimeError(f"writer process exited ({self.process.exitcode})")
        raise RuntimeError("writer process did not answer in time")

    def stop(self) -> None:
        """Reap the process; kill it if it is still writing."""
        if self.process.pid is None:  # never started
            return
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


# --- a real Jupyter server in its own process -------------------------------------------------


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)


def this_labextension(directory: Path) -> list[str]:
    """JupyterLab's argument to load this checkout's build of the panel (``jlpm build``), not
    the one the venv links to (another checkout's, in a git worktree); none when not built.
    """
    built = Path(__file__).parents[1] / "saga_jupyter" / "labextension"
    if not (built / "package.json").exists():
        return []
    link = directory / "labextensions" / "saga-jupyter"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(built)
    return [f"--LabApp.extra_labextensions_path={link.parent}"]


class JupyterProcess:
    """A real ``jupyter server`` (or ``lab``) in its own process, on 127.0.0.1 with a token.

    ``port`` and ``token`` are those of a server before (a restart where clients reconnect);
    ``wrap`` is a command that execs the server with a limit or a privilege less (``prlimit
    ... --``, ``setpriv ... --``); ``env`` adds to this process's environment. Returns once the
    extension's first scan is done; stopped by :meth:`stop` or at the end of a ``with``.
    """

    def __init__(
        self,
        tmp_path: Path,
        *args: str,
        app: str = "server",
        port: int | None = None,
        token: str | None = None,
        wrap: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.token = token or secrets.token_hex(16)
        if port is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = int(probe.getsockname()[1])
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}/"
        self.headers = {"Authorization": f"token {self.token}"}
        home = tmp_path / f"home-{self.port}"
        home.mkdir(exist_ok=True)
        self.log_path = tmp_path / f"jupyter-{self.port}.log"
        if app == "lab":
            args = (*this_labextension(home), *args)
        command = [
            *wrap, sys.executable, "-m", "jupyter", app, "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", f"--IdentityProvider.token={self.token}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={tmp_path}", *args,
        ]  # fmt: skip
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, (PACKAGE_ROOT, os.getenv("PYTHONPATH")))),
            "HOME": str(home),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            **(env or {}),
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=environment,
            )  # fmt: skip
        try:
            wait_until(self._answers, timeout=60, interval=0.1)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        """The server's process id (a ``wrap`` command execs it: the same process)."""
        return self.process.pid

    def _answers(self) -> bool:
        assert self.process.poll() is None, self.log()[-3000:]
        try:
            return self.get("api/saga/status")["lastPoll"] is not None  # first scan done
        except OSError:
            return False

    def get(self, path: str) -> Any:
        """GET a JSON route with the token."""
        return self.request("GET", path)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Call a JSON route with the token; its decoded answer (``None`` when empty)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data, self.headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = response.read()
        return json.loads(answer) if answer else None

    def log(self) -> str:
        """What the server wrote to its console so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not exit within 10 s."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> JupyterProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
