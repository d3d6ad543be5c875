"""The one directory watch also watches further directories (a SAGA project's), one watch still."""

from __future__ import annotations

import os
import queue
from pathlib import Path

import pytest

from saga_jupyter.core.watch.dirwatch import KINDS, WATCH_ENV, DirectoryWatch
from tests.helpers import inotify_watches_on, own_threads

Event = tuple[Path, str, str]


def inotify_instances() -> int:
    """How many inotify descriptors this process holds."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except OSError:
            continue
    return count


def events_until(events: queue.Queue[Event], *wanted: Event) -> list[Event]:
    seen: list[Event] = []
    while not set(wanted) <= set(seen):
        seen.append(events.get(timeout=5))
    return seen


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(WATCH_ENV, request.param)
    return str(request.param)


def test_further_directories_share_the_watch(kind: str, tmp_path: Path) -> None:
    output, leaf, parent = tmp_path / "out", tmp_path / "leaf", tmp_path / "parent"
    for directory in (output, leaf, parent):
        directory.mkdir()
    before, threads = inotify_instances(), own_threads()
    watch = DirectoryWatch(output)
    files: queue.Queue[tuple[str, str]] = queue.Queue()
    events: queue.Queue[Event] = queue.Queue()
    watch.add_listener(lambda name, event: files.put((name, event)))
    watch.start()
    try:
        assert watch.add_directory(leaf, lambda *event: events.put(event), writes=True)
        assert watch.add_directory(parent, lambda *event: events.put(event), writes=False)
        assert watch.directories == {leaf, parent}
        if kind == "inotify":
            assert inotify_instances() == before + 1  # one descriptor for all three
        (leaf / "t1.json").write_text("{}")
        events_until(events, (leaf, "t1.json", "created"))
        (leaf / "t1.json").write_text('{"status": "completed"}')  # a task file updated
        events_until(events, (leaf, "t1.json", "modified"))
        (parent / "story").mkdir()  # a directory appearing is told: its watch is due
        (parent / "story.json").write_text("{}")
        seen = events_until(events, (parent, "story", "created"), (parent, "story.json", "created"))
        (output / "saga__e__s__1.out").write_text("x")  # the output directory as before
        assert files.get(timeout=5) == ("saga__e__s__1.out", "created")
        (parent / "story.json").write_text("{}\n")  # no writes asked for there
        (leaf / "marker").write_text("")
        seen = events_until(events, (leaf, "marker", "created"))
        assert not [e for e in seen if e[0] == parent and e[2] in ("modified", "closed")]

        watch.remove_directory(parent)
        assert watch.directories == {leaf}
        # Replaced: watched anew by adding it again; a link in its place is refused.
        leaf.rename(tmp_path / "old")
        leaf.mkdir()
        assert watch.add_directory(leaf, lambda *event: events.put(event), writes=True)
        assert inotify_watches_on(tmp_path / "old") == 0  # the one moved away: unwatched
        (leaf / "t2.json").write_text("{}")
        events_until(events, (leaf, "t2.json", "created"))
        link = tmp_path / "link"
        link.symlink_to(leaf)
        assert not watch.add_directory(link, lambda *event: events.put(event), writes=True)
        assert watch.directories == {leaf}
    finally:
        watch.stop()
    assert own_threads() <= threads | {t for t in own_threads() if not t.is_alive()}
    assert inotify_instances() == before
