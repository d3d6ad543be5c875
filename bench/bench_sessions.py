"""Session discovery, the sessions API and new-session latency with 500 SAGA sessions.

Run from the repository root (about a minute):

    .venv/bin/python bench/bench_sessions.py [--sessions 500]

Everything runs against a private tmux server (``tmux -L saga-bench-<pid>``), a temporary output
directory and real Jupyter servers started as subprocesses; all of them are removed at the end,
on failure too. Prints a markdown table and writes it to ``bench/results/sessions.md``.

CPU is counted where it is spent: this process (``RUSAGE_SELF``), the tmux clients it runs
(``RUSAGE_CHILDREN``) and the tmux server answering them (``/proc/<pid>/schedstat``, which
``RUSAGE_CHILDREN`` cannot see).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import websocket  # websocket-client, a dependency of jupyter_server

from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.tmux import Tmux
from saga_jupyter.server.app import SagaJupyterApp

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "sessions.md"
JUPYTER = Path(sys.executable).parent / "jupyter"
LIST_FORMAT = "#{session_created} #{session_name}"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

SCAN_ITERATIONS = 50
GET_REQUESTS = 1000
GET_PERIOD = 0.01  # 1000 GETs over ~10 s, so ~20 polls at 0.5 s happen meanwhile
IDLE_WINDOW = 10.0
FAST_POLL = 0.5
DEFAULT_POLL = SagaJupyterApp.poll_interval.default_value  # the server's default
NEW_WITH_FILE = 30
NEW_WITHOUT_FILE = 5
BATCH = 50  # sessions created per tmux invocation
START_DEADLINE = 60.0

REFERENCE = "original SAGA dashboard, 200 sessions"
REF_CPU_PER_POLL = 1.4
REF_GET_P99 = 1.37
REF_NEW_P50, REF_NEW_P99 = 2.7, 4.3


def log(message: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def commit() -> str:
    """The short hash of the commit measured (``?`` outside a git checkout)."""
    result = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "?"


def publish(report: str, path: Path) -> None:
    """Print a bench's markdown report and write it to ``path`` (under ``bench/results/``)."""
    print(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report)
    log(f"written to {path.relative_to(REPO)}")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    ordered = sorted(values)
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the table; a missed deadline shows as ``timeout``."""
    return "timeout" if math.isinf(seconds) else f"{seconds * 1000:.2f} ms"


def subprocess_env() -> dict[str, str]:
    """The environment without anything that points tmux or saga_jupyter elsewhere."""
    drop = {"TMUX", "TMUX_PANE", "SAGA_SESSIONS_DIR", "SAGA_TMUX_SOCKET"}
    return {key: value for key, value in os.environ.items() if key not in drop}


# --- CPU accounting -------------------------------------------------------------------------


def tmux_server_cpu(pid: int) -> float:
    """CPU seconds of a single-threaded process, to the nanosecond (schedstat) if available."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return process_cpu(pid)


def process_cpu(pid: int) -> float:
    """CPU seconds of a process (all threads) and of the children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


@dataclass
class Cpu:
    """CPU seconds spent by this process, its children, and the tmux server."""

    own: float = 0.0
    children: float = 0.0
    server: float = 0.0

    @property
    def total(self) -> float:
        """Everything a scan costs the machine."""
        return self.own + self.children + self.server

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.own - other.own, self.children - other.children, self.server - other.server)


def cpu_now(server_pid: int) -> Cpu:
    """A snapshot of the three CPU counters."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Cpu(
        own.ru_utime + own.ru_stime,
        children.ru_utime + children.ru_stime,
        tmux_server_cpu(server_pid),
    )


def measure_cpu(actions: dict[str, Callable[[], object]], iterations: int, server_pid: int):
    """CPU of each action, ``iterations`` times, interleaved so both see the same machine."""
    samples: dict[str, list[Cpu]] = {label: [] for label in actions}
    for _ in range(iterations):
        for label, action in actions.items():
            settle(server_pid)
            before = cpu_now(server_pid)
            action()
            settle(server_pid)
            samples[label].append(cpu_now(server_pid) - before)
    return samples


def settle(server_pid: int, timeout: float = 1.0) -> None:
    """Wait until the tmux server is idle again.

    It keeps working a few ms after a client exits; without this wait that work would be
    charged to whichever call is measured next.
    """
    deadline = time.monotonic() + timeout
    last = tmux_server_cpu(server_pid)
    while time.monotonic() < deadline:
        time.sleep(0.005)
        now = tmux_server_cpu(server_pid)
        if now == last:
            return
        last = now


@contextlib.contextmanager
def counting_tmux_processes() -> Iterator[list[list[str]]]:
    """Record every tmux process started (through ``subprocess.run``, ``Popen`` or libtmux)."""
    calls: list[list[str]] = []
    original = subprocess.Popen

    class CountingPopen(original):
        def __init__(self, args, *rest, **kwargs):
            argv = [args] if isinstance(args, (str, bytes)) else [str(arg) for arg in args]
            if argv and Path(str(argv[0])).name == "tmux":
                calls.append(argv)
            super().__init__(args, *rest, **kwargs)

    subprocess.Popen = CountingPopen
    try:
        yield calls
    finally:
        subprocess.Popen = original


# --- the private tmux server and the output directory ---------------------------------------


class TmuxServer:
    """A tmux server on a private ``-L`` socket, killed (socket removed) by :meth:`kill`."""

    def __init__(self, socket_name: str) -> None:
        self.socket = socket_name
        self.pid: int | None = None
        self.socket_path: Path | None = None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One tmux command on this server."""
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
            stdin=subprocess.DEVNULL,
            env=subprocess_env(),
        )

    def new_sessions(self, names: list[str]) -> None:
        """Start a detached ``sleep 3600`` session per name, ``BATCH`` per tmux invocation."""
        for start in range(0, len(names), BATCH):
            args: list[str] = []
            for name in names[start : start + BATCH]:
                args += [";"] if args else []
                args += ["new-session", "-d", "-x", "80", "-y", "24", "-s", name, "sleep 3600"]
            self.run(*args)
            if self.pid is None:
                self.locate()

    def locate(self) -> None:
        """Learn the server's pid and socket path (needed to measure and to clean up)."""
        pid, path = self.run("display", "-p", "#{pid} #{socket_path}").stdout.split(maxsplit=1)
        self.pid, self.socket_path = int(pid), Path(path.strip())

    def kill(self) -> None:
        """Kill the server (its sessions get SIGHUP) and remove the socket tmux leaves behind."""
        with contextlib.suppress(Exception):
            if self.pid is None:
                self.locate()
        with contextlib.suppress(Exception):
            self.run("kill-server", check=False)
        if self.pid is not None and not wait_for_exit(self.pid, 5.0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Whether a process (not our child) is gone within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


LOG_LINES = (
    "[{ts}] assistant: Reading src/{story}/handlers.py to see how requests are validated",
    '[{ts}] tool_call: Read(file_path="src/{story}/module_{n}.py")',
    "[{ts}] tool_result: 142 lines",
    '[{ts}] tool_call: Bash(command="pytest -x tests/test_{story}.py -q")',
    "\x1b[32m..\x1b[0m\x1b[31mF\x1b[0m tests/test_{story}.py::test_case_{n} [{pct}%]",
    "Installing dependencies: {pct}%\r{pct}%\r100%",
    "[{ts}] assistant: The failure comes from an unescaped value; fixing it ({n}/40)",
)


def fake_log(story: str, lines: int = 40) -> str:
    """A few KB of what a SAGA worker writes: timestamps, tool calls, ANSI colours, ``\\r``."""
    out = []
    for n in range(lines):
        ts = f"2026-11-22T10:{n // 60:02d}:{n % 60:02d}Z"
        template = LOG_LINES[n % len(LOG_LINES)]
        out.append(template.format(ts=ts, story=story, n=n, pct=n * 100 // lines))
    return "\n".join(out) + "\n"


@dataclass
class Fixture:
    """What was created: running sessions, completed ones (files only), rotated logs."""

    running: list[str]
    with_file: int
    completed: list[str]
    rotated: int
    log_bytes: int

    @property
    def listed(self) -> int:
        """How many sessions saga_jupyter must list."""
        return len(self.running) + len(self.completed)

    def describe(self) -> str:
        """One line for the report."""
        files = self.with_file + len(self.completed) + self.rotated
        return (
            f"{len(self.running)} running tmux sessions (`sleep 3600`), {self.with_file} of them "
            f"with a .out file; {len(self.completed)} completed sessions (file only); "
            f"{self.rotated} rotated `.out.N` files; {files} files of ~{self.log_bytes} bytes "
            "in the output directory"
        )


def session_name(kind: str, i: int) -> str:
    """A SAGA session name spread over 10 epics."""
    return f"saga__epic-{i % 10}__{kind}-{i}__{100000 + i}"


def build_fixture(tmux: TmuxServer, output_dir: Path, sessions: int) -> Fixture:
    """Start the tmux sessions and write the output files."""
    running = [session_name("story", i) for i in range(sessions)]
    completed = [session_name("done", i) for i in range(max(1, sessions // 5))]
    with_file = running[::2]
    others = max(0, sessions - len(with_file) - len(completed))  # up to `sessions` files
    tmux.new_sessions(running)
    for name in with_file + completed:
        (output_dir / f"{name}.out").write_text(fake_log(name.split("__")[2]))
    # Rotated logs (``<name>.out.1``, ``.2``) share the directory; discovery must skip them.
    rotated = [f"{name}.out.{k}" for k in (1, 2, 3) for name in completed][:others]
    for filename in rotated:
        (output_dir / filename).write_text(fake_log("rotated"))
    size = len(fake_log(running[0].split("__")[2]).encode())
    return Fixture(running, len(with_file), completed, len(rotated), size)


# --- a real Jupyter server ------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterServer:
    """``jupyter server`` with saga_jupyter as a subprocess; stopped (TERM, then KILL) on exit."""

    def __init__(self, workdir: Path, output_dir: Path, socket_name: str, poll: float) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.poll = poll
        self.log_path = workdir / f"jupyter-{self.port}.log"
        self.command = [
            str(JUPYTER),
            "server",
            "--allow-root",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--SagaJupyterApp.output_dir={output_dir}",
            f"--SagaJupyterApp.tmux_socket_name={socket_name}",
            f"--SagaJupyterApp.poll_interval={poll}",
            f"--ServerApp.root_dir={workdir}",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> JupyterServer:
        env = subprocess_env()
        for variable, sub in (
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
        ):
            env[variable] = str(self.workdir / f"{sub}-{self.port}")
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                self.command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.workdir,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    @property
    def headers(self) -> dict[str, str]:
        """Token authentication."""
        return {"Authorization": f"token {self.token}"}

    def connection(self) -> http.client.HTTPConnection:
        """A keep-alive HTTP connection to the server."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def get_json(self, path: str) -> object:
        """GET ``path`` on a fresh connection; the decoded JSON body (200 only)."""
        connection = self.connection()
        try:
            connection.request("GET", path, headers=self.headers)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status}")
        return json.loads(body)

    def wait_ready(self, listed: int) -> None:
        """Wait until the first scan listed every session (bounded by ``START_DEADLINE``)."""
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{self.log_tail()}")
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                status = self.get_json("/api/saga/status")
                assert isinstance(status, dict)
                counts = status["sessions"]
                if status["lastPoll"] and counts["running"] + counts["completed"] >= listed:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"jupyter server not ready in {START_DEADLINE:g} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's console output, for error messages."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


# --- the measurements -----------------------------------------------------------------------


@dataclass
class Row:
    """One line of the result table."""

    metric: str
    ours: str
    target: str
    passed: bool | None = None  # None: for information

    def cells(self) -> list[str]:
        """The row as table cells."""
        verdict = {True: "pass", False: "**FAIL**", None: "info"}[self.passed]
        return [self.metric, self.ours, self.target, verdict]


def bench_scan(tmux: TmuxServer, output_dir: Path) -> tuple[list[Row], list[str]]:
    """Figure 1: CPU of a warm ``Discovery.scan()`` versus a bare ``list-sessions``."""
    assert tmux.pid is not None
    discovery = Discovery(output_dir, Tmux(tmux.socket))
    bare_command = ["tmux", "-L", tmux.socket, "list-sessions", "-F", LIST_FORMAT]
    env = subprocess_env()

    def bare() -> object:
        return subprocess.run(bare_command, capture_output=True, text=True, check=True, env=env)

    discovery.scan()  # fills the preview cache: later scans see no file changed
    listed = len(discovery.scan())
    with counting_tmux_processes() as calls:
        for _ in range(10):
            discovery.scan()
    per_scan = len(calls) / 10
    samples = measure_cpu({"ours": discovery.scan, "bare": bare}, SCAN_ITERATIONS, tmux.pid)
    ours, ref = samples["ours"], samples["bare"]
    rows = [
        cpu_row("scan CPU, median", ours, ref, 50),
        cpu_row("scan CPU, p95", ours, ref, 95),
        Row("tmux subprocesses per scan", f"{per_scan:g}", "exactly 1", per_scan == 1),
    ]
    notes = [
        f"Discovery.scan() listed {listed} sessions.",
        breakdown("Discovery.scan()", ours),
        breakdown("bare list-sessions", ref),
    ]
    return rows, notes


def cpu_row(metric: str, ours: list[Cpu], ref: list[Cpu], q: float) -> Row:
    """Our CPU at a percentile against twice the bare call's."""
    ours_q = percentile([cpu.total for cpu in ours], q)
    ref_q = percentile([cpu.total for cpu in ref], q)
    return Row(
        f"{metric} (python + tmux client + tmux server)",
        f"{ms(ours_q)} ({ours_q / ref_q:.2f}x bare)",
        f"≤ 2x bare `list-sessions` ({ms(ref_q)})",
        ours_q <= 2 * ref_q,
    )


def breakdown(label: str, samples: list[Cpu]) -> str:
    """Median of each CPU component, for the notes."""
    parts = {
        "this process": [cpu.own for cpu in samples],
        "tmux client": [cpu.children for cpu in samples],
        "tmux server": [cpu.server for cpu in samples],
    }
    text = ", ".join(f"{name} {ms(percentile(values, 50))}" for name, values in parts.items())
    return f"{label} CPU medians over {len(samples)} runs: {text}."


def bench_api(server: JupyterServer, tmux: TmuxServer, listed: int) -> tuple[list[Row], list[str]]:
    """Figure 2: GET latency while polling every 0.5 s, then server CPU per poll when idle."""
    latencies, size = timed_gets(server, listed)
    per_poll, parts = idle_cpu_per_poll(server, tmux)
    rows = [
        Row(
            f"GET /api/saga/sessions p50 ({len(latencies)} GETs, poll {server.poll:g} s)",
            ms(percentile(latencies, 50)),
            "—",
        ),
        Row(
            "GET /api/saga/sessions p99",
            ms(percentile(latencies, 99)),
            f"< 10 ms ({REFERENCE}: {REF_GET_P99:g} s)",
            percentile(latencies, 99) < 0.010,
        ),
        Row(
            "server CPU per poll, idle (jupyter + tmux clients + tmux server)",
            ms(per_poll),
            f"< {REF_CPU_PER_POLL:g} s ({REFERENCE}, per 3 s poll)",
            per_poll < REF_CPU_PER_POLL,
        ),
    ]
    notes = [
        f"GET body: {size / 1024:.0f} KiB, {listed} sessions; max latency {ms(max(latencies))}.",
        f"Idle CPU over {IDLE_WINDOW:g} s ({IDLE_WINDOW / server.poll:g} polls): {parts}.",
    ]
    return rows, notes


def timed_gets(server: JupyterServer, listed: int) -> tuple[list[float], int]:
    """``GET_REQUESTS`` sequential GETs on one keep-alive connection, one every ``GET_PERIOD``."""
    connection = server.connection()
    latencies: list[float] = []
    body = b""
    deadline = time.monotonic() + GET_REQUESTS * GET_PERIOD * 6
    next_at = time.perf_counter()
    try:
        while len(latencies) < GET_REQUESTS and time.monotonic() < deadline:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += GET_PERIOD
            start = time.perf_counter()
            connection.request("GET", "/api/saga/sessions", headers=server.headers)
            response = connection.getresponse()
            body = response.read()
            latencies.append(time.perf_counter() - start)
            if response.status != 200:
                raise RuntimeError(f"GET /api/saga/sessions: HTTP {response.status}")
    finally:
        connection.close()
    if len(json.loads(body)) != listed:
        raise RuntimeError(f"GET /api/saga/sessions did not list {listed} sessions")
    return latencies, len(body)


def idle_cpu_per_poll(server: JupyterServer, tmux: TmuxServer) -> tuple[float, str]:
    """CPU seconds per poll of the server, its tmux clients and the tmux server, when idle."""
    assert tmux.pid is not None
    time.sleep(1.0)  # let the last GET's work settle
    jupyter_before, tmux_before = process_cpu(server.pid), tmux_server_cpu(tmux.pid)
    time.sleep(IDLE_WINDOW)  # the measurement window itself
    jupyter = process_cpu(server.pid) - jupyter_before
    tmux_cpu = tmux_server_cpu(tmux.pid) - tmux_before
    polls = IDLE_WINDOW / server.poll
    parts = (
        f"jupyter server and its tmux clients {ms(jupyter / polls)} per poll "
        f"({jupyter / IDLE_WINDOW:.1%} of a core), tmux server {ms(tmux_cpu / polls)} per poll"
    )
    return (jupyter + tmux_cpu) / polls, parts


class Channel:
    """A client of ``/api/saga/channels`` waiting for session names to appear."""

    def __init__(self, server: JupyterServer) -> None:
        url = f"ws://127.0.0.1:{server.port}/api/saga/channels?token={server.token}"
        # No per-byte UTF-8 check in pure Python: ~0.15 s per 300 KiB frame.
        self.ws = websocket.create_connection(url, timeout=10, skip_utf8_validation=True)
        self.recv_frame(time.monotonic() + 10)  # the current list, sent on connect

    def close(self) -> None:
        """Close the WebSocket."""
        self.ws.close()

    def recv_frame(self, deadline: float) -> str | None:
        """The next text frame, or ``None`` at the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self.ws.settimeout(remaining)
        try:
            frame = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        return frame if isinstance(frame, str) else frame.decode()

    def wait_for(self, name: str, deadline: float) -> float:
        """``perf_counter()`` when a ``sessions:updated`` frame first lists ``name``, or inf."""
        while (frame := self.recv_frame(deadline)) is not None:
            arrived = time.perf_counter()  # before parsing: our JSON decoding is not theirs
            if name in frame and lists(json.loads(frame), name):
                return arrived
        return math.inf


def lists(frame: dict, name: str) -> bool:
    """Whether a frame is a ``sessions:updated`` listing ``name``."""
    sessions = frame.get("sessions", []) if frame.get("type") == "sessions:updated" else []
    return any(session["name"] == name for session in sessions)


def bench_new_sessions(
    server: JupyterServer, tmux: TmuxServer, output_dir: Path
) -> tuple[list[Row], list[str]]:
    """Figure 3: from a new session's output file (or tmux session) to the channel's frame."""
    channel = Channel(server)
    try:
        with_file = [new_session(channel, tmux, output_dir, i, True) for i in range(NEW_WITH_FILE)]
        without = [
            new_session(channel, tmux, output_dir, i, False) for i in range(NEW_WITHOUT_FILE)
        ]
    finally:
        channel.close()
    p50, p99 = percentile(with_file, 50), percentile(with_file, 99)
    bound = server.poll + 0.5
    rows = [
        Row(
            f"new session visible, with .out file, p50 ({NEW_WITH_FILE} runs)",
            ms(p50),
            f"({REFERENCE}: {REF_NEW_P50:g} s)",
        ),
        Row(
            "new session visible, with .out file, p99",
            ms(p99),
            f"< 1 s ({REFERENCE}: {REF_NEW_P99:g} s)",
            p99 < 1.0,
        ),
        Row(
            f"new session visible, no .out file, p50 ({NEW_WITHOUT_FILE} runs)",
            ms(percentile(without, 50)),
            f"≈ poll_interval / 2 ({server.poll / 2:g} s)",
        ),
        Row(
            "new session visible, no .out file, max",
            ms(max(without)),
            f"≤ poll_interval + 0.5 s ({bound:g} s)",
            max(without) <= bound,
        ),
    ]
    return rows, [f"Channel latencies with poll_interval={server.poll:g} s."]


def new_session(channel: Channel, tmux: TmuxServer, output_dir: Path, i: int, file: bool) -> float:
    """Start one session as a SAGA worker does; seconds until the channel lists it."""
    name = f"saga__bench__{'new' if file else 'nofile'}__{i}"
    # Random pauses: a sample started right after a poll would always wait a whole interval.
    time.sleep(random.uniform(0.05, 0.2) if file else random.uniform(0, DEFAULT_POLL))
    tmux.new_sessions([name])
    start = time.perf_counter()
    if file:
        (output_dir / f"{name}.out").write_text(f"[worker] {name} starting\n")
    return channel.wait_for(name, time.monotonic() + 3 * DEFAULT_POLL + 5) - start


# --- the report -----------------------------------------------------------------------------


def render(rows: list[Row], notes: list[str], fixture: Fixture, seconds: float) -> str:
    """The markdown report: context, table, notes."""
    tmux_version = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False)
    header = ["metric", "ours", "target / reference", "result"]
    lines = [
        "# bench_sessions",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, commit {commit()}, "
        f"Python {platform.python_version()}, {tmux_version.stdout.strip()}, "
        f"{os.cpu_count()} CPUs, {seconds:.0f} s.",
        "",
        f"Setup: {fixture.describe()}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(row.cells()) + " |" for row in rows),
        "",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=500, help="running tmux sessions")
    return parser.parse_args(argv)


def raise_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that every cleanup below still runs."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """Build the fixture, run the three measurements, print and save the table."""
    args = parse_args(argv)
    raise_on_sigterm()
    began = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    with contextlib.ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="saga-bench-")))
        output_dir = workdir / "sessions"
        output_dir.mkdir()
        tmux = TmuxServer(f"saga-bench-{os.getpid()}")
        cleanup.callback(tmux.kill)

        log(f"starting {args.sessions} tmux sessions on -L {tmux.socket}")
        fixture = build_fixture(tmux, output_dir, args.sessions)

        log(f"1/3 Discovery.scan() vs bare list-sessions, {SCAN_ITERATIONS} runs each")
        add(rows, notes, bench_scan(tmux, output_dir))

        log(f"2/3 GET latency and idle CPU, poll_interval={FAST_POLL:g}")
        with JupyterServer(workdir, output_dir, tmux.socket, FAST_POLL) as server:
            server.wait_ready(fixture.listed)
            add(rows, notes, bench_api(server, tmux, fixture.listed))

        log(f"3/3 new-session latency over the channel, poll_interval={DEFAULT_POLL:g}")
        with JupyterServer(workdir, output_dir, tmux.socket, DEFAULT_POLL) as server:
            server.wait_ready(fixture.listed)
            add(rows, notes, bench_new_sessions(server, tmux, output_dir))

    publish(render(rows, notes, fixture, time.monotonic() - began), RESULTS)
    return 0


def add(rows: list[Row], notes: list[str], result: tuple[list[Row], list[str]]) -> None:
    """Collect one measurement's rows and notes."""
    rows.extend(result[0])
    notes.extend(result[1])


if __name__ == "__main__":
    sys.exit(main())
