"""``saga-jupyter ls / tail / status`` as a person or a script runs them, on real tmux sessions.

Every command runs as a subprocess (``python -m saga_jupyter``), as the console script does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from libtmux.server import Server

from saga_jupyter.core.durations import elapsed, format_duration
from tests.helpers import JupyterProcess, kill_worker, start_worker, wait_until
from tests.server.test_worker_outcomes import HEADER, cycles, result

RUNNING = "saga__auth__login-form__4242"
BLOCKED = "saga__search__ranking__7"
FINISHED = "saga__billing__refunds__3"


def saga(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``saga-jupyter ARGS`` to its end (bounded), its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "saga_jupyter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def where(server: Server, output_dir: Path) -> list[str]:
    """The options that point a command at this test's tmux socket and output directory."""
    return ["--output-dir", str(output_dir), "--tmux-socket", server.socket_name]


@pytest.fixture
def sessions(server: Server, output_dir: Path) -> Iterator[None]:
    """A worker in its second cycle, one that ended BLOCKED, one that finished; a non-SAGA one."""
    (output_dir / f"{RUNNING}.out").write_text(HEADER + cycles())
    (output_dir / f"{BLOCKED}.out").write_text(
        HEADER + cycles("BLOCKED") + result("BLOCKED", "which wins?")
    )
    (output_dir / f"{FINISHED}.out").write_text(HEADER + cycles("FINISH") + result("FINISH"))
    start_worker(server, RUNNING)
    server.cmd("new-session", "-d", "-s", "not-saga", "sleep 600")
    yield


def columns(line: str) -> list[str]:
    """A table row's cells (separated by at least two spaces)."""
    return [cell.strip() for cell in line.split("  ") if cell.strip()]


@pytest.mark.usefixtures("sessions")
def test_ls_lists_sessions_with_their_outcome_or_cycle(where: list[str]) -> None:
    listed = saga("ls", *where)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert columns(header) == ["NAME", "STATUS", "OUTCOME", "COST", "AGE", "DURATION"]
    by_name = {columns(row)[0]: columns(row) for row in rows}
    assert by_name.keys() == {RUNNING, BLOCKED, FINISHED}  # never the other tmux session
    assert by_name[RUNNING][1:3] == ["running", "cycle 2"]
    assert by_name[BLOCKED][1:3] == ["completed", "BLOCKED"]
    assert by_name[FINISHED][1:3] == ["completed", "FINISH"]
    assert rows[0].startswith(RUNNING)  # newest first

    assert by_name[RUNNING][3] == "-"  # the seeds' workers say no cost

    running = saga("ls", "--status", "running", *where)
    assert [columns(row)[0] for row in running.stdout.splitlines()[1:]] == [RUNNING]
    assert saga("ls", "--status", "stopped", *where).returncode == 2  # argparse: a usage error


@pytest.mark.usefixtures("sessions")
def test_ls_json_is_the_contract_and_the_environment_works_as_options(
    where: list[str], server: Server, output_dir: Path
) -> None:
    listed = saga("ls", "--json", "--status", "completed", *where)
    documents = json.loads(listed.stdout)
    assert {d["name"] for d in documents} == {BLOCKED, FINISHED}
    blocked = next(d for d in documents if d["name"] == BLOCKED)
    assert blocked["worker"]["outcome"] == "BLOCKED"
    assert blocked["worker"]["blocker"] == "which wins?"
    assert blocked["startTime"].endswith("Z") and blocked["status"] == "completed"
    # The same settings from the contract's environment variables, as the Python API reads them.
    env = {
        **os.environ,
        "SAGA_SESSIONS_DIR": str(output_dir),
        "SAGA_TMUX_SOCKET": server.socket_name,
    }
    assert json.loads(saga("ls", "--json", env=env).stdout) == json.loads(
        saga("ls", "--json", *where).stdout
    )
    empty = saga("ls", "--output-dir", str(output_dir / "none"), "--tmux-socket", "saga-no-server")
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "No SAGA sessions found" in empty.stderr


def test_tail_prints_the_last_lines_as_written(where: list[str], output_dir: Path) -> None:
    text = "".join(f"line {i} \x1b[1mbold\x1b[0m é\n" for i in range(30))
    (output_dir / f"{FINISHED}.out").write_text(text)
    last = saga("tail", "-n", "3", FINISHED, *where)
    assert last.returncode == 0
    assert last.stdout == "".join(text.splitlines(keepends=True)[-3:])
    assert saga("tail", FINISHED, *where).stdout.count("\n") == 10  # tail's default
    unknown = saga("tail", "saga__auth__nobody__1", *where)
    assert unknown.returncode == 1
    assert unknown.stderr == "saga-jupyter tail: no SAGA session named saga__auth__nobody__1\n"
    bad = saga("tail", "../etc/passwd", *where)
    assert bad.returncode == 1 and "no SAGA session matches '../etc/passwd'" in bad.stderr
    assert "Traceback" not in unknown.stderr + bad.stderr


class Tail:
    """``saga-jupyter tail -f`` running, its output read as it comes."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.out, self.err = tmp_path / "tail.out", tmp_path / "tail.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "saga_jupyter", "tail", "-f", *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )

    def printed(self) -> str:
        return self.out.read_text()

    def wait_for(self, text: str, timeout: float = 10) -> None:
        wait_until(lambda: self.printed().endswith(text), timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_tail_follow_goes_through_a_rotation_and_ends_with_the_session(
    where: list[str], server: Server, output_dir: Path, tmp_path: Path
) -> None:
    out = output_dir / f"{RUNNING}.out"
    out.write_text("old 1\nold 2\nold 3\n")
    start_worker(server, RUNNING)
    tail = Tail(tmp_path, "-n", "2", RUNNING, *where)
    try:
        tail.wait_for("old 2\nold 3\n")
        with out.open("a") as file:
            file.write("appended\n")
        tail.wait_for("old 2\nold 3\nappended\n")
        # Rotation: the file is moved away and a new one written in its place.
        out.rename(output_dir / "rotated.log")
        out.write_text("new 1\n")
        tail.wait_for("appended\nnew 1\n")
        with out.open("a") as file:
            file.write("new 2, the last\n")
        tail.wait_for("new 1\nnew 2, the last\n")
        assert tail.process.poll() is None  # the session still runs: tail goes on
        kill_worker(server, RUNNING)
        assert tail.process.wait(20) == 0  # it ends with the session, by itself
    finally:
        tail.stop()
    assert tail.printed() == "old 2\nold 3\nappended\nnew 1\nnew 2, the last\n"
    assert tail.err.read_text() == ""


def test_tail_follow_stops_cleanly_on_ctrl_c(
    where: list[str], server: Server, output_dir: Path, tmp_path: Path
) -> None:
    (output_dir / f"{RUNNING}.out").write_text("working\n")
    start_worker(server, RUNNING)
    tail = Tail(tmp_path, RUNNING, *where)
    try:
        tail.wait_for("working\n")
        # Following now: the file is open (as it is until the end, to see it replaced).
        wait_until(lambda: opens(tail.process.pid, output_dir / f"{RUNNING}.out"))
        tail.process.send_signal(signal.SIGINT)
        assert tail.process.wait(20) == 130
    finally:
        tail.stop()
    assert tail.err.read_text() == ""  # no traceback


def opens(pid: int, path: Path) -> bool:
    """Whether a process has ``path`` open (Linux /proc)."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == str(path):
                return True
        except OSError:
            continue
    return False


@pytest.mark.usefixtures("sessions")
def test_status_says_how_tmux_and_the_sessions_are(
    where: list[str], server: Server, output_dir: Path, tmp_path: Path
) -> None:
    human = saga("status", *where)
    assert human.returncode == 0, human.stderr
    assert f"(tmux {server_version()}, socket {server.socket_name})" in human.stdout
    assert "reachable, server running" in human.stdout
    assert "1 running, 2 completed (1 blocked or failed)" in human.stdout
    health = json.loads(saga("status", "--json", *where).stdout)
    assert health["tmux"]["available"] and health["tmux"]["serverRunning"]
    assert health["sessions"] == {"running": 1, "completed": 2, "needAttention": 1}
    assert health["outputDir"] == str(output_dir) and health["outputDirExists"]
    # Without tmux on PATH: said so, exit status 1 for scripts.
    env = {**os.environ, "PATH": str(tmp_path)}
    missing = saga("status", *where, env=env)
    assert missing.returncode == 1
    assert "tmux:        unavailable: tmux is not installed" in missing.stdout


def test_status_exits_3_when_the_output_directory_is_missing(
    server: Server, output_dir: Path, tmp_path: Path
) -> None:
    start_worker(server, RUNNING)
    gone = ["--output-dir", str(output_dir / "gone"), "--tmux-socket", server.socket_name]
    missing = saga("status", *gone)
    assert missing.returncode == 3, missing.stderr
    assert f"output dir:  {output_dir / 'gone'} (missing)" in missing.stdout
    assert "1 running" in missing.stdout  # the rest is still said
    assert saga("status", "--json", *gone).returncode == 3
    # tmux that cannot be asked says more: 1 when both are wrong.
    assert saga("status", *gone, env={**os.environ, "PATH": str(tmp_path)}).returncode == 1
    assert "3 when the output directory is missing" in " ".join(saga("status", "-h").stdout.split())


def server_version() -> str:
    return subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.split()[1]


def test_ls_shows_todays_workers_with_cycle_cost_and_outcome(
    where: list[str], server: Server, output_dir: Path
) -> None:
    lines = (Path(__file__).parent / "core" / "saga_v4_sample.jsonl").read_bytes().splitlines(True)
    live, ended = "saga-story-auth-login-flow-1741165923", "saga-story-search-ranking-1741165000"
    (output_dir / f"{live}.jsonl").write_bytes(b"".join(lines[:23]))  # cycle 2 has started
    end = b'{"type":"saga_worker","subtype":"pipeline_end","status":"incomplete","exitCode":2}\n'
    (output_dir / f"{ended}.jsonl").write_bytes(b"".join(lines[:21]) + end)
    start_worker(server, live)
    listed = saga("ls", *where)
    by_name = {columns(row)[0]: columns(row) for row in listed.stdout.splitlines()[1:]}
    assert by_name[live][1:4] == ["running", "cycle 2/10", "$6.42"]
    assert by_name[ended][1:4] == ["completed", "INCOMPLETE", "$6.42"]
    stories = saga("ls", "--story", "search-ranking", "--json", *where)
    assert [d["name"] for d in json.loads(stories.stdout)] == [ended]


STORY = "saga-story-auth-login-1741165923"
SAMPLE = Path(__file__).parent / "core" / "saga_v4_sample.jsonl"


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_tail_shows_a_v4_workers_transcript_or_with_raw_its_lines(
    where: list[str], output_dir: Path
) -> None:
    (output_dir / f"{STORY}.jsonl").write_bytes(SAMPLE.read_bytes())
    last = saga("tail", "-n", "2", STORY, *where)
    assert last.returncode == 0
    assert plain(last.stdout) == (
        "── cycle 2 ended (exit 1) ──\n10:02:11 ■ pipeline completed: 3 cycles, 50.1 min (exit 0)\n"
    )
    assert "\x1b[1;32m" in last.stdout  # coloured: a completed pipeline is green
    raw = saga("tail", "--raw", "-n", "2", STORY, *where)
    assert raw.stdout.encode() == b"".join(SAMPLE.read_bytes().splitlines(keepends=True)[-2:])


def test_tail_follow_renders_a_v4_worker_until_it_ends(
    where: list[str], server: Server, output_dir: Path, tmp_path: Path
) -> None:
    lines = SAMPLE.read_bytes().splitlines(keepends=True)
    path = output_dir / f"{STORY}.jsonl"
    path.write_bytes(lines[0])
    server.cmd("new-session", "-d", "-s", STORY, "sleep 600")
    tail = Tail(tmp_path, STORY, *where)
    try:
        tail.wait_for("auth-login-flow\x1b[0m\n")
        with path.open("ab") as file:
            file.write(lines[3][:30])  # half a line: nothing yet
            file.flush()
            file.write(lines[3][30:] + lines[7])
        tail.wait_for("npm test -- src/auth.test.ts\n")
        kill_worker(server, STORY)
        assert tail.process.wait(20) == 0
    finally:
        tail.stop()
    assert plain(tail.printed()) == (
        "09:12:03 ▶ pipeline started: story auth-login-flow\n── cycle 1/10 ── 09:12:09\n"
        "▸ Bash npm test -- src/auth.test.ts\n"
    )


def test_ls_with_the_servers_state_file_shows_the_panels_durations(
    where: list[str], server: Server, output_dir: Path, tmp_path: Path
) -> None:
    """As the demo says to run it: an ended worker's duration is the one the panel shows."""
    store = tmp_path / "state.json"
    (output_dir / f"{BLOCKED}.out").write_text(HEADER + cycles("BLOCKED"))
    start_worker(server, BLOCKED)
    began = time.time()
    traits = {"output_dir": output_dir, "tmux_socket_name": server.socket_name, "state_file": store}
    args = [f"--SagaJupyterApp.{trait}={value}" for trait, value in traits.items()]
    with JupyterProcess(tmp_path, *args, "--SagaJupyterApp.poll_interval=0.1") as jupyter:
        # Seen running by the server for a few seconds: a duration the output file cannot tell.
        wait_until(lambda: time.time() - began > 2.5 and jupyter.get("api/saga/sessions"), 10, 0.2)
        with (output_dir / f"{BLOCKED}.out").open("a") as file:
            file.write(result("BLOCKED", "which wins?"))
        kill_worker(server, BLOCKED)
        (session,) = wait_until(
            lambda: [s for s in jupyter.get("api/saga/sessions") if s["endTime"]], 10
        )
    # The panel's duration: from startTime to endTime, each to the second (src/format.ts).
    panel = format_duration(elapsed(parse_iso(session["startTime"]), parse_iso(session["endTime"])))
    assert panel not in ("0s", "1s")
    home = {**os.environ, "JUPYTER_DATA_DIR": str(tmp_path / "no-data")}  # no default store
    for run in (
        saga("ls", *where, "--state-file", str(store), env=home),
        saga("ls", *where, env={**home, "SAGA_STATE_FILE": str(store)}),
    ):
        assert run.returncode == 0, run.stderr
        (row,) = [columns(line) for line in run.stdout.splitlines()[1:]]
        assert row[:3] == [BLOCKED, "completed", "BLOCKED"]
        assert row[-1] == panel
    listed = json.loads(saga("ls", "--json", *where, "--state-file", str(store), env=home).stdout)
    assert [(s["startTime"], s["endTime"]) for s in listed] == [
        (session["startTime"], session["endTime"])
    ]
    # Without the store, a command started afterwards knows only when the file was last written.
    unaware = saga("ls", *where, env=home)
    assert columns(unaware.stdout.splitlines()[1])[-1] == "0s"
    typo = saga("ls", *where, "--state-file", str(tmp_path / "stat.json"), env=home)
    assert typo.returncode == 0 and columns(typo.stdout.splitlines()[1])[-1] == "0s"
    assert typo.stderr == (
        f"saga-jupyter ls: no metadata store at {tmp_path / 'stat.json'}: the times of ended "
        "sessions are those of their output files\n"
    )


def parse_iso(text: str) -> float:
    """An ISO 8601 UTC time of the JSON as a Unix timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_the_demo_prints_the_command_that_lists_its_workers_with_their_durations(
    server: Server, tmp_path: Path
) -> None:
    output_dir = tmp_path / "sessions"
    printed = tmp_path / "printed.txt"
    command = [
        sys.executable, "-m", "saga_jupyter", "demo", "--no-lab", "--workers", "1",
        "--output-dir", str(output_dir), "--socket", server.socket_name,
    ]  # fmt: skip
    with printed.open("wb") as out:
        demo = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        line = wait_until(lambda: re.search(r"List them: (.*)\n", printed.read_text()), 30)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(30) == 0, printed.read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert shlex.split(line[1]) == [
        "saga-jupyter", "ls", "--output-dir", str(output_dir), "--tmux-socket",
        server.socket_name, "--state-file", str(output_dir / ".saga-demo-state.json"),
    ]  # fmt: skip
    # The store the demo's JupyterLab writes (and its kernels read).
    assert f"--state-file {output_dir / '.saga-demo-state.json'}" in line[1]


RANKING = "saga__search__ranking__1796627675"
LOGIN_FLOW = "saga-story-auth-login-flow-1796627000"


@pytest.fixture
def stories(server: Server, output_dir: Path) -> None:
    """A v3 worker of story ``ranking`` and a today's one of story ``auth-login-flow``, ended."""
    (output_dir / f"{RANKING}.out").write_text("ranking 1\nranking 2\n")
    (output_dir / f"{LOGIN_FLOW}.jsonl").write_bytes(SAMPLE.read_bytes())
    (output_dir / "saga__search__typo-tolerance__5.out").write_text("typos\n")
    start_worker(server, "saga__auth__ranking-ui__9")  # a story that only starts like one


@pytest.mark.usefixtures("stories")
def test_tail_finds_a_session_by_the_start_of_its_name_or_its_story(where: list[str]) -> None:
    for typed in ("ranking", "saga__search__rank", RANKING):
        found = saga("tail", "-n", "1", typed, *where)
        assert (found.returncode, found.stdout, found.stderr) == (0, "ranking 2\n", "")
    story = saga("tail", "-n", "1", "auth-login-flow", *where)
    assert story.returncode == 0, story.stderr
    assert "pipeline completed" in plain(story.stdout)  # the today's worker's transcript
    assert saga("tail", "-n", "1", "saga-story-auth", *where).stdout == story.stdout
    # -f on an ended session: its last lines, and the end at once.
    assert saga("tail", "-f", "-n", "1", "ranking", *where).stdout == "ranking 2\n"


@pytest.mark.usefixtures("stories")
def test_tail_names_every_session_that_fits_when_more_than_one_does(
    where: list[str], server: Server
) -> None:
    again = "saga__search__ranking__1796629999"
    start_worker(server, again)  # the story runs again: "ranking" is no longer one session
    ambiguous = saga("tail", "ranking", *where)
    assert (ambiguous.returncode, ambiguous.stdout) == (1, "")
    first, *candidates = ambiguous.stderr.splitlines()
    assert first == "saga-jupyter tail: 'ranking' matches 2 SAGA sessions; give one's name:"
    # Newest first, as ls lists them; no guess, not even the running one.
    assert sorted(candidates) == [f"  {RANKING}  (completed)", f"  {again}  (running)"]
    prefix = saga("tail", "saga__search__", *where)
    assert prefix.returncode == 1 and prefix.stderr.count("\n  saga__search__") == 3
    assert saga("tail", RANKING, *where).stdout == "ranking 1\nranking 2\n"  # a whole name
    # A whole name is that session or none, never the start of another (…__12 is not …__123).
    cut = saga("tail", RANKING[:-1], *where)
    assert cut.returncode == 1
    assert cut.stderr == f"saga-jupyter tail: no SAGA session named {RANKING[:-1]}\n"
    nothing = saga("tail", "checkout", *where)
    assert nothing.returncode == 1 and "no SAGA session matches 'checkout'" in nothing.stderr
    assert "Traceback" not in ambiguous.stderr + cut.stderr + nothing.stderr


# What a session command must not wait for: the server's, the widgets', the demo's and
# nbformat's modules (nbformat's JSON schema checkers alone took seconds).
HEAVY = (
    "jupyter_server", "tornado", "ipywidgets", "anywidget", "pandas", "nbformat", "jsonschema",
    "saga_jupyter.widgets", "saga_jupyter.server", "saga_jupyter.demo", "urllib.request",
)  # fmt: skip


def imported(*args: str) -> set[str]:
    """The modules ``saga-jupyter ARGS`` imports (``python -X importtime``)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "saga_jupyter", *args],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # [0]: the header


@pytest.mark.usefixtures("stories")
def test_session_commands_start_without_the_heavy_modules(where: list[str]) -> None:
    for command in (["ls"], ["tail", "ranking"], ["status"]):
        modules = imported(*command, *where)
        assert "saga_jupyter.core.engine" in modules  # it did look
        assert not {m for m in modules if m.startswith(HEAVY)}, command
