"""The one directory watch: events per file, writes only while wanted, re-armed when replaced."""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path

import pytest

from saga_jupyter.core.watch.dirwatch import KINDS, WATCH_ENV, DirectoryWatch
from tests.helpers import inotify_watches_on, own_threads, wait_for


def events_until(
    events: queue.Queue[tuple[str, str]], *wanted: tuple[str, str]
) -> list[tuple[str, str]]:
    """Events up to the last of ``wanted`` (a poll may tell one poll's events in any order)."""
    seen: list[tuple[str, str]] = []
    while not set(wanted) <= set(seen):
        seen.append(events.get(timeout=5))
    return seen


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way of watching, forced as the environment variable forces it."""
    monkeypatch.setenv(WATCH_ENV, request.param)
    return str(request.param)


@pytest.fixture
def watched(kind: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    writes = {"wanted": False}
    watch = DirectoryWatch(tmp_path, wants_writes=lambda: writes["wanted"])
    events: queue.Queue[tuple[str, str]] = queue.Queue()
    watch.add_listener(lambda name, kind: events.put((name, kind)))
    watch.start()
    yield watch, events, writes
    watch.stop()


def test_writes_are_watched_only_while_wanted(watched, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    watch, events, writes = watched
    path = tmp_path / "a.out"
    with path.open("a") as file:
        file.write("created\n")
    seen = events_until(events, ("a.out", "created"))
    for i in range(50):
        with path.open("a") as file:
            file.write(f"line {i}\n")
    (tmp_path / "marker.out").write_text("")
    seen += events_until(events, ("marker.out", "created"))
    assert not [kind for name, kind in seen if name == "a.out" and kind == "modified"]

    writes["wanted"] = True
    assert watch.ensure() is True  # re-armed with writes
    with path.open("a") as file:
        file.write("now watched\n")
    events_until(events, ("a.out", "modified"))

    writes["wanted"] = False
    assert watch.ensure() is True
    assert watch.ensure() is False  # nothing changed: nothing to do


def test_a_replaced_directory_is_watched_again(watched, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    watch, events, _ = watched
    moved = tmp_path.parent / (tmp_path.name + "-old")
    tmp_path.rename(moved)
    tmp_path.mkdir()
    assert watch.ensure() is True
    (tmp_path / "b.out").write_text("x\n")
    events_until(events, ("b.out", "created"))
    moved.rename(tmp_path.parent / (tmp_path.name + "-gone"))


def test_files_written_while_unwatched_are_told_once_watched_again(watched, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    watch, events, _ = watched
    (tmp_path / "before.out").write_text("seen live\n")
    events_until(events, ("before.out", "created"))
    moved = tmp_path.parent / (tmp_path.name + "-old")
    tmp_path.rename(moved)
    tmp_path.mkdir()
    # Written before the new directory is watched: no inotify event will ever say so.
    (tmp_path / "gap.out").write_text("x\n")
    (tmp_path / "sub.out").mkdir()
    assert watch.ensure() is True
    (tmp_path / "marker.out").write_text("")
    seen = events_until(events, ("marker.out", "created"), ("gap.out", "created"))
    assert seen.count(("gap.out", "created")) == 1
    assert ("sub.out", "created") not in seen and ("before.out", "created") not in seen
    moved.rename(tmp_path.parent / (tmp_path.name + "-gone"))


def test_each_event_is_told_once_across_mask_changes(watched, kind: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    watch, events, writes = watched
    for wanted in (True, False, True):
        writes["wanted"] = wanted
        assert watch.ensure() is True
    if watch.kind == "inotify":  # one inotify watch whatever the mask
        assert inotify_watches_on(tmp_path) == 1
    path = tmp_path / "a.out"
    path.write_bytes(b"")  # created (and closed)
    with path.open("ab", buffering=0) as file:
        file.write(b"one write\n")
    (tmp_path / "marker.out").write_text("")
    seen = events_until(events, ("marker.out", "created"), ("a.out", "created"))
    assert seen.count(("a.out", "created")) == 1
    # Polling may fold a write that follows the creation at once into it.
    assert seen.count(("a.out", "modified")) == (kind != "polling")


def test_subdirectories_and_the_directory_itself_are_not_files(watched, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, events, _ = watched
    (tmp_path / "sub.out").mkdir()
    (tmp_path / "marker.out").write_text("")
    assert ("sub.out", "created") not in events_until(events, ("marker.out", "created"))


def test_on_an_event_loop_events_are_read_and_told_on_the_loop(kind: str, tmp_path: Path) -> None:
    async def main() -> None:
        watch = DirectoryWatch(tmp_path)
        assert watch.kind == kind
        told: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue()
        watch.add_listener(lambda name, kind: told.put_nowait((name, kind, threading.get_ident())))
        before = own_threads()
        watch.start(asyncio.get_running_loop())
        if kind == "inotify":
            assert own_threads() == before  # no thread of its own: read on the loop
        assert not watch.watching  # armed off the loop, by ensure()
        assert await asyncio.to_thread(watch.ensure) is True
        (tmp_path / "a.out").write_text("x")
        loop_thread = threading.get_ident()
        assert await asyncio.wait_for(told.get(), 5) == ("a.out", "created", loop_thread)
        if kind == "inotify":  # each event as it happens
            seen = [await asyncio.wait_for(told.get(), 5) for _ in range(2)]
            assert seen == [("a.out", kind, loop_thread) for kind in ("modified", "closed")]
            assert inotify_watches_on(tmp_path) == 1
        with (tmp_path / "a.out").open("a") as file:
            file.write("more")  # a poll may have folded the first write into the creation
        while (event := await asyncio.wait_for(told.get(), 5))[1] != "modified":
            assert event[2] == loop_thread
        assert event == ("a.out", "modified", loop_thread)
        watch.stop()  # nothing more can be read
        assert not watch.watching and own_threads() == before
        if kind == "inotify":
            assert inotify_watches_on(tmp_path) == 0

    asyncio.run(main())


def test_an_unknown_kind_falls_back_to_the_native_observer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WATCH_ENV, "fsevents-on-linux")
    assert DirectoryWatch(tmp_path).kind == "native"


def flood_of_events(directory: Path, count: int) -> None:
    """``count`` modify events that inotify cannot merge (two files written in turn)."""
    paths = [directory / "noise-a.log", directory / "noise-b.log"]
    with paths[0].open("ab", buffering=0) as first, paths[1].open("ab", buffering=0) as second:
        for i in range(count):
            (first if i % 2 else second).write(b".")


def queue_limit() -> int:
    """inotify's per-instance queue (system-wide, not changed here)."""
    return int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())


def test_events_lost_while_unread_are_told_as_an_overflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WATCH_ENV, "inotify")

    async def main() -> None:
        watch = DirectoryWatch(tmp_path)
        told: list[tuple[str, str]] = []
        watch.add_listener(lambda name, kind: told.append((name, kind)))
        watch.start(asyncio.get_running_loop())
        assert await asyncio.to_thread(watch.ensure) is True
        # On the loop, not awaiting: the watch's descriptor is not read meanwhile.
        flood_of_events(tmp_path, queue_limit() + 100)
        (tmp_path / "a.out").write_text("lost in the overflow\n")
        await wait_for(lambda: ("", "overflow") in told)
        assert ("a.out", "created") not in told  # past the queue's end: only the overflow says
        watch.stop()

    asyncio.run(main())
