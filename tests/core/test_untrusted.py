"""Files in the output directory are hostile: links are never followed, nothing blocks on a FIFO."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from libtmux.server import Server

from saga_jupyter.core.api import read_log
from saga_jupyter.core.discovery import Discovery
from saga_jupyter.core.errors import SessionNotFound
from saga_jupyter.core.preview import read_preview
from saga_jupyter.core.saga.worker import WorkerFiles
from saga_jupyter.core.tmux.client import Tmux
from saga_jupyter.core.tmux.launch import launch, parse_launch
from saga_jupyter.core.watch.files import open_regular
from saga_jupyter.core.watch.tailer import Tailer, initial_offset, read_range
from tests.helpers import bound_socket, wait_until

NAME = "saga__e__s__1"
SECRET = "the secret of another directory\n"


def returns_within(call: Callable[[], Any], fifo: Path, seconds: float = 5.0) -> Any:
    """``call()``'s result; fails (and frees the call) when it waits on ``fifo`` instead."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((call(), None))
        except Exception as error:
            outcome.append((None, error))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a writer ends the blocked open
        thread.join(seconds)
        pytest.fail(f"blocked on the FIFO {fifo.name}")
    result, error = outcome[0]
    if error is not None:
        raise error
    return result


def outside_file(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "secret.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SECRET)
    return path


@pytest.fixture
def fifo(output_dir: Path) -> Path:
    path = output_dir / f"{NAME}.out"
    os.mkfifo(path)
    return path


def test_nothing_waits_on_a_fifo(fifo: Path, output_dir: Path) -> None:
    # The scan checks a file and then opens it: a FIFO swapped in between used to hang open().
    assert returns_within(lambda: read_preview(fifo, 100), fifo) is None
    assert returns_within(lambda: Tailer(fifo).missing, fifo) is True
    assert returns_within(lambda: initial_offset(fifo, 10), fifo) == 0
    with pytest.raises(FileNotFoundError):
        returns_within(lambda: read_range(fifo, 0, 10), fifo)
    with pytest.raises(SessionNotFound):  # no tmux session, no regular file: no such session
        returns_within(lambda: read_log(NAME, output_dir=output_dir, tmux_socket_name="no"), fifo)


def test_a_linked_output_file_is_never_followed(output_dir: Path, tmp_path: Path) -> None:
    link = output_dir / f"{NAME}.out"
    link.symlink_to(outside_file(tmp_path))
    assert read_preview(link) is None
    assert Tailer(link).missing
    assert Tailer.from_tail(link, 100).read() is None
    assert initial_offset(link, 5) == 0
    with pytest.raises(FileNotFoundError):
        read_range(link, 0, 100)
    with pytest.raises(SessionNotFound):
        read_log(NAME, output_dir=output_dir, tmux_socket_name="saga-none")
    # Not listed: a link is no output file, so no session stands behind it.
    assert Discovery(output_dir, Tmux("saga-none")).scan() == []


def test_a_hard_link_to_a_file_elsewhere_is_never_read(output_dir: Path, tmp_path: Path) -> None:
    # Same file system, other directory: the link is a second name of the secret itself.
    path = output_dir / f"{NAME}.out"
    os.link(outside_file(tmp_path), path)
    with pytest.raises(FileNotFoundError, match="hard link"):
        open_regular(path)
    assert read_preview(path) is None
    assert Tailer(path).missing
    assert initial_offset(path, 5) == 0
    with pytest.raises(FileNotFoundError):
        read_range(path, 0, 100)
    assert WorkerFiles().read(NAME, str(path), path.stat().st_size, path.stat().st_ino) is None
    with pytest.raises(SessionNotFound):
        read_log(NAME, output_dir=output_dir, tmux_socket_name="saga-none")
    assert Discovery(output_dir, Tmux("saga-none")).scan() == []  # not listed either


def test_a_socket_is_no_output_file(output_dir: Path) -> None:
    # open(2) of a socket fails with ENXIO: that is "no regular file", not an error to pass on.
    path = output_dir / f"{NAME}.out"
    with bound_socket(path):
        with pytest.raises(FileNotFoundError, match="socket"):
            open_regular(path)
        assert read_preview(path) is None
        assert Tailer(path).missing
        with pytest.raises(FileNotFoundError):
            read_range(path, 0, 100)
        with pytest.raises(SessionNotFound):
            read_log(NAME, output_dir=output_dir, tmux_socket_name="saga-none")


def test_a_file_replaced_by_a_link_is_not_followed(output_dir: Path, tmp_path: Path) -> None:
    path = output_dir / f"{NAME}.out"
    path.write_text("mine\n")
    with Tailer(path) as tailer:
        chunk = tailer.read()
        assert chunk is not None and chunk.data == "mine\n"
        path.unlink()
        path.symlink_to(outside_file(tmp_path))
        assert tailer.read() is None  # the old file is gone; the link is no replacement
        assert tailer.missing


def test_a_linked_output_directory_is_fine(output_dir: Path, tmp_path: Path) -> None:
    (output_dir / f"{NAME}.out").write_text("hello\n")
    linked = tmp_path / "linked"
    linked.symlink_to(output_dir)
    (info,) = Discovery(linked, Tmux("saga-none")).scan()
    assert info.output_available and info.output_preview == "hello"


@pytest.fixture
def tmux(server: Server) -> Tmux:
    return Tmux(server.socket_name)


def launched_output(tmux: Tmux, output_dir: Path, cwd: Path, command: str) -> tuple[str, str]:
    request = parse_launch({"epicSlug": "e", "storySlug": "s", "command": command, "cwd": str(cwd)})
    name = launch(request, tmux, output_dir, max_sessions=4).name
    out = output_dir / f"{name}.out"
    return name, wait_until(lambda: out.exists() and "done" in out.read_text() and out.read_text())


def test_launch_passes_over_a_name_taken_by_a_dangling_link(
    tmux: Tmux, output_dir: Path, tmp_path: Path
) -> None:
    now = int(time.time())
    targets = [tmp_path / f"target-{suffix}" for suffix in range(now, now + 5)]
    for suffix, target in zip(range(now, now + 5), targets, strict=True):
        (output_dir / f"saga__e__s__{suffix}.out").symlink_to(target)
    name, text = launched_output(tmux, output_dir, tmp_path, "echo done")
    assert int(name.rsplit("__", 1)[1]) >= now + 5
    assert text.strip() == "done"
    assert stat.S_ISREG((output_dir / f"{name}.out").lstat().st_mode)
    assert not any(target.exists() for target in targets)  # nothing written through a link


def test_launch_makes_the_output_directory_private(tmux: Tmux, tmp_path: Path) -> None:
    output_dir = tmp_path / "made" / "by-launch"
    launched_output(tmux, output_dir, tmp_path, "echo done")
    assert stat.S_IMODE(output_dir.stat().st_mode) == 0o700


def test_no_user_string_is_expanded_by_tmux(
    tmux: Tmux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cwd and an output directory holding tmux formats: #(...) would run, #{...} be replaced.
    # The tmux server starts with this environment: where a #(...) would leave its mark.
    monkeypatch.setenv("PWNED", str(tmp_path / "pwned"))
    cwd = tmp_path / "work #(touch $PWNED-cwd) #{session_name} ##"
    cwd.mkdir()
    output_dir = tmp_path / "out #(touch $PWNED-out) #{pane_id}"
    command = "printf '%s #{session_name} #(id)\\n' \"$(pwd -P)\"; echo done"
    _, text = launched_output(tmux, output_dir, cwd, command)
    assert text.splitlines()[0] == f"{cwd} #{{session_name}} #(id)"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pwned")) == []


def test_a_directory_others_can_write_to_is_reported_once(
    output_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    discovery = Discovery(output_dir, Tmux("saga-none"))
    discovery.scan()
    assert discovery.output_dir_warning is None
    output_dir.chmod(0o1777)  # as /tmp is: anyone can plant a link or a FIFO
    with caplog.at_level(logging.WARNING):
        discovery.scan()
        discovery.scan()
    assert discovery.output_dir_warning is not None
    assert "writable by other users (mode 1777)" in discovery.output_dir_warning
    assert [r.getMessage() for r in caplog.records].count(
        f"output directory {output_dir}: {discovery.output_dir_warning}"
    ) == 1
    output_dir.chmod(0o700)
    discovery.scan()
    assert discovery.output_dir_warning is None


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("chown"), reason="chown needs root")
def test_a_directory_of_another_user_is_reported(output_dir: Path) -> None:
    subprocess.run(["chown", "65534", str(output_dir)], check=True)
    discovery = Discovery(output_dir, Tmux("saga-none"))
    discovery.scan()
    assert discovery.output_dir_warning is not None
    assert "owned by another user (uid 65534)" in discovery.output_dir_warning
