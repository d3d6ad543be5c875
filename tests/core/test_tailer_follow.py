"""Tailers at one mark: one reads, the others follow it, and all read on alike."""

from __future__ import annotations

import os
from pathlib import Path

from saga_jupyter.core.watch.tailer import Tailer


def test_followers_take_the_read_and_read_on_alike(tmp_path: Path) -> None:
    path = tmp_path / "a.out"
    path.write_bytes(b"start\n")
    leader, follower, behind = Tailer(path), Tailer(path), Tailer(path)
    assert leader.mark == follower.mark == behind.mark
    behind.read()
    assert behind.mark != leader.mark
    with path.open("ab") as file:
        file.write("é…".encode()[:3])  # a character cut in two: its first byte is held
    chunk = leader.read()
    assert chunk is not None and chunk.data == "start\né"
    assert follower.follow(leader)
    assert follower.mark == leader.mark and follower.offset == leader.offset == chunk.offset
    with path.open("ab") as file:
        file.write("é…".encode()[3:] + b"\n")
    assert leader.read() == follower.read()  # the held byte completes the character in both
    for tailer in (leader, follower, behind):
        tailer.close()


def test_a_leader_gone_on_to_a_replacement_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "a.out"
    path.write_bytes(b"old\n")
    leader, follower = Tailer(path), Tailer(path)
    os.rename(path, tmp_path / "a.out.1")
    path.write_bytes(b"new\n")
    mark = follower.mark
    while (chunk := leader.read()) is not None and not chunk.reset:
        pass  # the rest of the old file, then the new one from byte 0
    assert not follower.follow(leader)
    assert follower.mark == mark  # nothing taken: it reads for itself
    assert follower.read() is not None
    leader.close()
    follower.close()


def test_a_tailer_without_its_file_open_does_not_follow(tmp_path: Path) -> None:
    path = tmp_path / "a.out"
    path.write_bytes(b"old\n")
    leader, follower = Tailer(path), Tailer(path)
    leader.read(), follower.read()
    os.rename(path, tmp_path / "aside")
    assert leader.read() is None and follower.read() is None  # both let the file go
    os.rename(tmp_path / "aside", path)  # the same file again: the same identity
    with path.open("ab") as file:
        file.write(b"more\n")
    assert leader.mark == follower.mark
    chunk = leader.read()
    assert chunk is not None and chunk.reset  # the leader opened it again and started over
    assert not follower.follow(leader)  # taking that read, it would start over once more
    assert follower.read() == chunk
    with path.open("ab") as file:
        file.write(b"end\n")
    assert leader.read() == follower.read()
    leader.close()
    follower.close()
