"""Kept panes and their writer: what a v4 worker's pane showed outlives it, in its own file only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.tmux import launch as launch_module
from saga_jupyter.core.tmux.client import Tmux
from saga_jupyter.core.tmux.launch import launch, parse_launch
from saga_jupyter.core.tmux.panes import WRITER, PaneKeeper, keep_pane, pane_summary
from saga_jupyter.core.watch.files import create_exclusive
from tests.helpers import V4_ERROR, start_failing_v4_worker, wait_until

NAME = "saga-story-x-1"
SECRET = "the secret of another directory\n"


def gone(server: Server, name: str) -> bool:
    return not server.has_session(name)


# --- the writer ---------------------------------------------------------------------------------


def write_through(path: Path, inode: int, data: bytes, *options: str) -> int:
    """Run the writer as tmux does (python -S -E, the script), ``data`` on its stdin."""
    command = [sys.executable, "-S", "-E", WRITER, "--inode", str(inode), *options, str(path)]
    return subprocess.run(command, input=data, capture_output=True, timeout=30).returncode


def test_the_writer_appends_to_the_file_created(tmp_path: Path) -> None:
    path = tmp_path / "a.out"
    inode = create_exclusive(path)
    path.write_bytes(b"first\n")  # the same file, not another one
    assert write_through(path, inode, b"then\n") == 0
    assert path.read_bytes() == b"first\nthen\n"


@pytest.mark.parametrize("swap", ["symlink", "hard link", "another file", "FIFO"])
def test_the_writer_writes_nothing_into_anything_else(tmp_path: Path, swap: str) -> None:
    outside = tmp_path / "elsewhere"
    outside.write_text(SECRET)
    path = tmp_path / "a.out"
    inode = create_exclusive(path)
    path.rename(tmp_path / "moved")  # still there: its inode is not given to another file
    if swap == "symlink":
        path.symlink_to(outside)
    elif swap == "hard link":
        os.link(outside, path)
        inode = outside.stat().st_ino  # even given the right inode: two names, refused
    elif swap == "another file":
        path.write_text("")
    else:
        os.mkfifo(path)
    assert write_through(path, inode, b"leaked\n") == 1  # at once, not blocked on the FIFO
    assert outside.read_text() == SECRET
    if swap == "another file":
        assert path.read_text() == ""


def test_the_writer_keeps_the_last_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.pane"
    inode = create_exclusive(path)
    keep = 100_000
    data = b"".join(b"line %06d\n" % i for i in range(100_000))  # 1.1 MB
    assert write_through(path, inode, data, "--keep", str(keep)) == 0
    kept = path.read_bytes()
    assert keep <= len(kept) <= 2 * keep
    assert data.endswith(kept)


# --- launch: the output file cannot be swapped for a link before the pipe opens it ------------


def test_a_link_swapped_in_before_the_pipe_opens_gets_nothing(
    server: Server, output_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "elsewhere"
    outside.write_text(SECRET)
    start = launch_module._start

    def swap_then_start(tmux: Tmux, name: str, *args: Any) -> None:
        # The race, made certain: between the file's creation and tmux opening it.
        out = output_dir / f"{name}.out"
        out.unlink()
        out.symlink_to(outside)
        start(tmux, name, *args)

    monkeypatch.setattr(launch_module, "_start", swap_then_start)
    command = "while :; do echo leaked; sleep 0.05; done"
    request = parse_launch({"epicSlug": "e", "storySlug": "s", "command": command})
    tmux = Tmux(server.socket_name)
    name = launch(request, tmux, output_dir, max_sessions=4).name
    pane = f"={name}:"

    def shown() -> bool:
        return "leaked" in tmux.run("capture-pane", "-p", "-t", pane).stdout

    def pipe_closed_or_leaked() -> bool:
        piped = tmux.run("display-message", "-p", "-t", pane, "#{pane_pipe}").stdout.strip()
        return piped == "0" or outside.read_text() != SECRET

    wait_until(shown)
    # The writer refused: tmux closed the pipe at its next write (cat would write on and on).
    wait_until(pipe_closed_or_leaked)
    assert outside.read_text() == SECRET


# --- keeping a pane -----------------------------------------------------------------------------


def test_a_failed_workers_error_is_kept_after_its_pane_closed(
    server: Server, output_dir: Path
) -> None:
    start_failing_v4_worker(server, NAME, output_dir)
    jsonl = output_dir / f"{NAME}.jsonl"
    wait_until(jsonl.exists)  # what the server's watch reacts to
    tmux = Tmux(server.socket_name)
    assert keep_pane(tmux, output_dir, NAME) is True
    wait_until(lambda: gone(server, NAME))
    pane = output_dir / f"{NAME}.pane"
    assert oct(pane.stat().st_mode & 0o777) == "0o600"
    wait_until(lambda: V4_ERROR in pane.read_text())
    text = pane.read_text()
    assert text.index("worker starting") < text.index(V4_ERROR)  # the screen, then the pipe
    assert pane_summary(output_dir, NAME, lines=1) == V4_ERROR  # colours stripped
    summary = pane_summary(output_dir, NAME)
    assert summary is not None and summary.splitlines()[0] == "worker starting"
    # Kept once: a second call asks tmux nothing and leaves the file alone.
    assert keep_pane(tmux, output_dir, NAME) is False
    assert pane.read_text() == text


def test_a_session_gone_leaves_no_pane_file(server: Server, output_dir: Path) -> None:
    server.cmd("new-session", "-d", "-s", "keep-alive", "sleep 600")  # a server, no session
    assert keep_pane(Tmux(server.socket_name), output_dir, NAME) is False
    assert not (output_dir / f"{NAME}.pane").exists()


def test_the_summary_never_follows_a_link_and_reads_a_bounded_tail(
    output_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.write_text("Error: secret\n")
    pane = output_dir / f"{NAME}.pane"
    pane.symlink_to(outside)
    assert pane_summary(output_dir, NAME) is None
    pane.unlink()
    assert pane_summary(output_dir, NAME) is None  # none at all
    pane.write_bytes(b"x" * (10 << 20) + b"\n\r\n  \nprogress 10%\rprogress 100%\n\n")
    assert pane_summary(output_dir, NAME, lines=3) == "progress 100%"


def test_a_pane_not_kept_for_want_of_a_directory_is_kept_when_given_again(
    server: Server, tmp_path: Path
) -> None:
    server.cmd("new-session", "-d", "-s", NAME, "sleep 600")
    output_dir = tmp_path / "not-yet"
    keeper = PaneKeeper(Tmux(server.socket_name), output_dir)
    keeper.keep(NAME)
    wait_until(lambda: NAME not in keeper.kept)  # failed: forgotten
    output_dir.mkdir()
    keeper.keep(NAME)
    wait_until(lambda: (output_dir / f"{NAME}.pane").exists())
    piped = server.cmd("display-message", "-p", "-t", f"={NAME}:", "#{pane_pipe}").stdout
    assert piped == ["1"] and keeper.kept == {NAME}
