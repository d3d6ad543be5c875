"""The SAGA projects beside the workers: read off the event loop, watched, pushed when changed.

Every directory of a project's ``.saga/`` that matters (its epics, its stories, its worktrees
and their stories' copies) is watched through the extension's one directory watch (its
:meth:`~saga_jupyter.core.watch.dirwatch.DirectoryWatch.add_directory`). An event re-reads the story
it concerns (debounced, in a thread), and the stories that changed go to the channel as one
``stories:updated`` frame. A full re-read every ``interval`` seconds (at least
:data:`MIN_BACKSTOP`) is the backstop, and watches the directories that appeared meanwhile.
REST reads are served from the last state.

The projects are the configured ones and every project a v4 worker names (its worktree). A
session's story enriches its SessionInfo (the poller's :attr:`~.poller.Poller.enrich` hook);
when a story a session works on changes, the poller scans again so its list shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tornado.ioloop import PeriodicCallback

from ..core.info import SessionInfo
from ..core.saga.catalog import Catalog, project_of_session
from ..core.saga.project import ALL, CHILD, EPICS, Project
from ..core.saga.stories import Story
from ..core.watch.dirwatch import OVERFLOW, DirectoryWatch
from .poller import ListUpdate, Poller, in_daemon_thread

DEBOUNCE = 0.05  # a burst of writes (a task file and the journal) becomes one re-read
# The full re-read, a backstop for what the watch cannot tell (a project moved away, events
# lost): 10-15 ms of a core for 200 stories, so not at every poll.
MIN_BACKSTOP = 10.0
READ_TIMEOUT = 10.0  # what a request waits for the first read, at most
Pending = dict[Path, set[str] | None]  # by project: the stories to re-read (None: all)
StoriesListener = Callable[[list[dict[str, Any]]], None]


class Projects:
    """The projects, their watches and their readers; their stories as JSON for REST."""

    def __init__(
        self,
        catalog: Catalog,
        poller: Poller,
        broadcast: StoriesListener,
        interval: float,
        log: logging.Logger,
    ) -> None:
        self.catalog = catalog
        self.poller = poller
        self.watch: DirectoryWatch = poller.watch
        self.broadcast = broadcast
        self.interval = interval
        self.log = log
        self.read = asyncio.Event()  # the first read is done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: PeriodicCallback | None = None
        self._debounce: asyncio.TimerHandle | None = None
        self._pending: Pending = {}
        self._refresh: asyncio.Future[None] | None = None
        # What each watched directory's event re-reads: (project, target) by directory.
        self._plans: dict[Path, dict[Path, tuple[bool, str]]] = {}
        self._targets: dict[Path, tuple[Path, str]] = {}
        self._sessions: dict[str, tuple[str, ...]] = {}  # v4 sessions by story id, newest first
        self._sessions_seen = 0  # counts the session lists seen
        # Bodies of unfiltered lists, by route, with the versions they were built from.
        self._bodies: dict[str, tuple[Any, bytes]] = {}
        poller.enrich = self.enrich

    # -- lifecycle

    async def start(self) -> None:
        """Read every project, watch them, re-read all now and then (the backstop)."""
        self._loop = asyncio.get_running_loop()
        self.poller.add_listener(self.sessions_updated)
        self.watch.add_listener(self._on_overflow)
        self.sessions_seen(self.poller.sessions)
        await self.request_refresh({path: None for path in self.catalog.projects})
        self.read.set()
        if self.catalog.projects:  # with none, a worker naming one starts the timer
            self._start_timer()

    async def stop(self) -> None:
        """Stop the timer; wait (bounded) for a re-read under way; unwatch the directories."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._debounce is not None:
            self._debounce.cancel()
            self._debounce = None
        self._loop = None
        self.watch.remove_listener(self._on_overflow)
        if self._refresh is not None:
            await asyncio.wait([self._refresh], timeout=READ_TIMEOUT)
        for directory in self._targets:
            self.watch.remove_directory(directory)
        self._targets, self._plans = {}, {}

    async def wait_read(self) -> None:
        """Wait (at most a few seconds) for the first read of the projects."""
        if not self.read.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.read.wait(), READ_TIMEOUT)

    def _start_timer(self) -> None:
        if self._timer is None and self._loop is not None:
            backstop = max(self.interval, MIN_BACKSTOP)
            self._timer = PeriodicCallback(self._refresh_all, backstop * 1000)
            self._timer.start()

    def _refresh_all(self) -> None:
        self.request_refresh({path: None for path in self.catalog.projects})

    # -- reading

    def request_refresh(self, pending: Pending) -> asyncio.Future[None]:
        """Re-read what ``pending`` names, now or right after the re-read under way."""
        for path, ids in pending.items():
            held = self._pending.get(path, set())
            self._pending[path] = None if ids is None or held is None else held | ids
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._run_refreshes())
        return asyncio.shield(self._refresh)

    async def _run_refreshes(self) -> None:
        while self._pending and self._loop is not None:
            pending, self._pending = self._pending, {}
            try:
                found = await in_daemon_thread(functools.partial(self._refresh_blocking, pending))
            except Exception:  # a bug in a read must not stop the others
                self.log.exception("saga_jupyter: reading the SAGA projects failed")
                return
            self._changed(*found)

    def _refresh_blocking(self, pending: Pending) -> tuple[list[Story], set[str]]:
        """Re-read, then watch what there now is (in a thread).

        The stories that changed or came, and the ids of those too that went.
        """
        changed: list[Story] = []
        ids_changed: set[str] = set()
        for path, ids in pending.items():
            project = self.catalog.projects.get(path)
            if project is None:
                continue
            for story_id in project.refresh(ids):
                ids_changed.add(story_id)
                story = project.stories.get(story_id)
                if story is not None:
                    changed.append(story)
            self._watch_project(project, ids)
        return changed, ids_changed

    def _watch_project(self, project: Project, ids: set[str] | None) -> None:
        """Watch the project's directories as they are now (those of ``ids``, or all)."""
        plan = project.watch_plan()
        old = self._plans.get(project.path, {})
        # Those not watched (come since, or gone and back), and those of the stories re-read (a
        # directory replaced is watched anew): re-arming a thousand would cost the idle CPU.
        watched = self.watch.directories
        for directory, (writes, target) in plan.items():
            if directory not in watched or (ids is not None and target in ids):
                self.watch.add_directory(directory, self._on_event, writes=writes)
        for directory in old.keys() - plan.keys():
            self.watch.remove_directory(directory)
        if plan is old:
            return
        self._plans = {**self._plans, project.path: plan}
        self._targets = {
            directory: (path, target)
            for path, held in self._plans.items()
            for directory, (_, target) in held.items()
        }

    def _changed(self, stories: list[Story], ids: set[str]) -> None:
        """On the loop: push the stories that changed; rescan sessions that work on them."""
        if stories:
            self.broadcast([self.summary(story) for story in stories])
        if not ids.isdisjoint(self._sessions):
            self.poller.request_scan()  # their epicSlug, blocker, task count

    def _on_event(self, directory: Path, filename: str, event_type: str) -> None:
        """On the loop: note what a watched directory's event re-reads; re-read soon."""
        found = self._targets.get(directory)
        if found is None or self._loop is None:
            return
        project, target = found
        if target == ALL:
            ids: set[str] | None = None
        elif target == EPICS:
            ids = set()  # the epics are re-read with any story
        else:
            ids = {filename if target == CHILD else target}
        held = self._pending.get(project, set())
        self._pending[project] = None if ids is None or held is None else held | ids
        if self._debounce is None:
            self._debounce = self._loop.call_later(DEBOUNCE, self._debounce_elapsed)

    def _on_overflow(self, filename: str, event_type: str) -> None:
        """On the loop: events were lost (the watch's queue overflowed): re-read everything."""
        if event_type == OVERFLOW and self._loop is not None:
            self._refresh_all()

    def _debounce_elapsed(self) -> None:
        self._debounce = None
        self.request_refresh({})

    # -- sessions

    def sessions_updated(self, update: ListUpdate) -> None:
        """The poller's listener: see :meth:`sessions_seen`."""
        self.sessions_seen(update.sessions)

    def sessions_seen(self, listed: list[SessionInfo]) -> None:
        """On the loop: learn the projects workers name, and which sessions each story has."""
        sessions: dict[str, list[str]] = {}
        for info in listed:
            if info.output_format != "messages":
                continue
            sessions.setdefault(info.story_slug, []).append(info.name)
            project = project_of_session(info)
            if project is not None and self.catalog.add(project) is not None:
                self.log.info("saga_jupyter: SAGA project named by %s: %s", info.name, project)
                self.request_refresh({project: None})
                self._start_timer()
        before, self._sessions = self._sessions, {k: tuple(v) for k, v in sessions.items()}
        self._sessions_seen += 1  # the list changed: a story's sessions (or their projects) may
        moved = {
            k
            for k in before.keys() | self._sessions.keys()
            if before.get(k) != self._sessions.get(k)
        }
        stories = [s for s in self.catalog.stories() if s.id in moved]
        if stories:
            self.broadcast([self.summary(story) for story in stories])

    def enrich(self, sessions: list[SessionInfo]) -> list[SessionInfo]:
        """Each v4 session with its story's epic, blocker and task count (the scan's thread)."""
        return self.catalog.enrich_all(sessions)

    def with_sessions(self, story: Story) -> Story:
        """The story with the sessions that worked on it, newest first."""
        names = self._sessions.get(story.id, ())
        if names and len(self.catalog.projects) > 1:
            by_name = self.poller.by_name
            names = tuple(
                name
                for name in names
                if (info := by_name.get(name)) is None
                or project_of_session(info) in (None, Path(story.project))
            )
        return replace(story, sessions=names) if names != story.sessions else story

    # -- what REST serves

    def summary(self, story: Story) -> dict[str, Any]:
        """The story's StorySummary, its sessions included."""
        return self.with_sessions(story).summary_json()

    def projects_json(self) -> list[dict[str, Any]]:
        """``GET /api/saga/projects``."""
        return [project.summary_json() for project in self.catalog.projects.values()]

    def epics_json(self) -> list[dict[str, Any]]:
        """Every epic as ``GET /api/saga/epics`` lists it."""
        return [epic.to_json() for epic in self.catalog.epics()]

    def epics_body(self) -> bytes:
        """``GET /api/saga/epics``: encoded once per change, not per request."""
        return self._cached("epics", self.epics_json)

    def summaries(self, stories: list[Story]) -> list[dict[str, Any]]:
        """The stories' StorySummary each."""
        return [self.summary(story) for story in stories]

    def stories_json(
        self, epic: str | None, status: str | None, project: str | None
    ) -> bytes | list[dict[str, Any]]:
        """``GET /api/saga/stories``: the encoded body when unfiltered (once per change)."""
        found = self.catalog.list_stories(epic, status, project)  # the filters checked first
        if epic is status is project is None:
            return self._cached("stories", lambda: self.summaries(found))
        return self.summaries(found)

    def version(self) -> Any:
        """What the lists are built from: changes when a project or the sessions change."""
        return tuple(p.version for p in self.catalog.projects.values()), self._sessions_seen

    def _cached(self, name: str, build: Callable[[], list[dict[str, Any]]]) -> bytes:
        """The JSON body ``build`` gives, rebuilt when a project or the sessions changed."""
        version = self.version()
        held = self._bodies.get(name)
        if held is None or held[0] != version:
            held = self._bodies[name] = (version, json.dumps(build()).encode())
        return held[1]

    def story_json(self, story_id: str, project: str | None) -> dict[str, Any]:
        """``GET /api/saga/stories/{id}``."""
        return self.with_sessions(self.catalog.get_story(story_id, project)).to_json()
