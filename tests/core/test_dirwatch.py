"""The one directory watch: events per file, writes only while wanted, re-armed when replaced."""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path

import pytest

from saga_jupyter.core.dirwatch import DirectoryWatch
from tests.helpers import inotify_watches_on, own_threads


def events_until(
    events: queue.Queue[tuple[str, str]], wanted: tuple[str, str]
) -> list[tuple[str, str]]:
    seen = []
    while wanted not in seen:
        seen.append(events.get(timeout=5))
    return seen


@pytest.fixture
def watched(tmp_path: Path):  # type: ignore[no-untyped-def]
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
    seen = events_until(events, ("marker.out", "created"))
    assert seen.count(("gap.out", "created")) == 1
    assert ("sub.out", "created") not in seen and ("before.out", "created") not in seen
    moved.rename(tmp_path.parent / (tmp_path.name + "-gone"))


def test_each_event_is_told_once_across_mask_changes(watched, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    watch, events, writes = watched
    for wanted in (True, False, True):
        writes["wanted"] = wanted
        assert watch.ensure() is True
    assert inotify_watches_on(tmp_path) == 1
    path = tmp_path / "a.out"
    path.write_bytes(b"")  # created (and closed)
    with path.open("ab", buffering=0) as file:
        file.write(b"one write\n")
    (tmp_path / "marker.out").write_text("")
    seen = events_until(events, ("marker.out", "created"))
    assert seen.count(("a.out", "created")) == 1
    assert seen.count(("a.out", "modified")) == 1


def test_subdirectories_and_the_directory_itself_are_not_files(watched, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, events, _ = watched
    (tmp_path / "sub.out").mkdir()
    (tmp_path / "marker.out").write_text("")
    assert ("sub.out", "created") not in events_until(events, ("marker.out", "created"))


def test_on_an_event_loop_events_are_read_and_told_on_the_loop(tmp_path: Path) -> None:
    async def main() -> None:
        watch = DirectoryWatch(tmp_path)
        told: asyncio.Queue[tuple[str, str, int]] = asyncio.Queue()
        watch.add_listener(lambda name, kind: told.put_nowait((name, kind, threading.get_ident())))
        before = own_threads()
        watch.start(asyncio.get_running_loop())
        assert own_threads() == before  # no thread of its own
        assert not watch.watching  # armed off the loop, by ensure()
        assert await asyncio.to_thread(watch.ensure) is True
        (tmp_path / "a.out").write_text("x")
        seen = [await asyncio.wait_for(told.get(), 5) for _ in range(3)]
        loop_thread = threading.get_ident()
        assert seen == [("a.out", kind, loop_thread) for kind in ("created", "modified", "closed")]
        assert inotify_watches_on(tmp_path) == 1
        watch.stop()  # the descriptor is closed: nothing more can be read
        assert inotify_watches_on(tmp_path) == 0 and not watch.watching

    asyncio.run(main())
