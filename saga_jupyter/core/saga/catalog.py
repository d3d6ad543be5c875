"""The SAGA projects a process knows, and the questions asked of them all at once.

A :class:`Catalog` holds :class:`~.project.Project` objects by path: those configured
(``project_dirs``, ``$SAGA_PROJECT_DIR``) and those today's workers name
(:func:`project_of_session`: their worktree ``<project>/.saga/worktrees/<storyId>`` gives
``<project>``). It lists and finds stories across them (an id two projects share needs the
project named), and tells a v4 session what its story says (:func:`enrich`). Reads see each
project's last published state.

The notebook's :func:`list_stories` and :func:`get_story` read through the catalog of their
project directories, kept per process so a second call re-reads only what changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from ..errors import AmbiguousStory, InvalidRequest, StoryNotFound
from ..info import SessionInfo
from .project import Project
from .stories import STATUSES, Epic, Story, StoryList
from .worker import TaskCounts, WorkerReading

PROJECT_DIR_ENV = "SAGA_PROJECT_DIR"
PathArg = str | os.PathLike[str]


def default_project_dirs() -> list[str]:
    """``$SAGA_PROJECT_DIR`` when set (as SAGA's own tools take it), else none."""
    value = os.environ.get(PROJECT_DIR_ENV)
    return [value] if value else []


def project_of_session(info: SessionInfo) -> Path | None:
    """The project a v4 worker named in its messages, else ``None``.

    Its reader (:mod:`.messages`) takes it from ``pipeline_step`` 1's worktree path, else
    ``system`` ``init``'s ``cwd``.
    """
    project = info.worker.project if info.worker is not None else None
    return Path(project) if project else None


class Catalog:
    """Projects by path: their stories and epics, listed and found across them."""

    def __init__(self, paths: Iterable[PathArg] = ()) -> None:
        self._lock = threading.Lock()  # the dict of projects (refreshes run elsewhere)
        self.projects: dict[Path, Project] = {}
        for path in paths:
            self.add(path)

    def add(self, path: PathArg) -> Project | None:
        """Know the project at ``path`` from now on; the new :class:`Project`, or ``None``."""
        key = Path(os.path.abspath(path))
        with self._lock:
            if key in self.projects:
                return None
            project = Project(key)
            self.projects = {**self.projects, key: project}
            return project

    def refresh(self) -> set[tuple[Path, str]]:
        """Re-read every project (what changed); ``(project, story id)`` of stories changed."""
        return {
            (path, story_id)
            for path, project in self.projects.items()
            for story_id in project.refresh()
        }

    def stories(self) -> list[Story]:
        """Every story of every project, by project then id."""
        return [story for project in self.projects.values() for story in project.stories.values()]

    def epics(self) -> list[Epic]:
        """Every epic of every project."""
        return [epic for project in self.projects.values() for epic in project.epics]

    def list_stories(
        self, epic: str | None = None, status: str | None = None, project: str | None = None
    ) -> list[Story]:
        """The stories matching every filter given (``status``: pending, inProgress, completed)."""
        if status is not None and status not in STATUSES:
            raise InvalidRequest(
                f"status must be one of {', '.join(STATUSES)}, not {status[:40]!r}"
            )
        wanted = _project_key(project)
        return [
            story
            for path, held in self.projects.items()
            if wanted is None or path == wanted
            for story in held.stories.values()
            if (epic is None or story.epic == epic) and (status is None or story.status == status)
        ]

    def get_story(self, story_id: str, project: str | None = None) -> Story:
        """The story ``story_id``; ``StoryNotFound``, or ``AmbiguousStory`` naming the projects."""
        wanted = _project_key(project)
        found = [
            held.stories[story_id]
            for path, held in self.projects.items()
            if (wanted is None or path == wanted) and story_id in held.stories
        ]
        if not found:
            where = f" in {project}" if project is not None else ""
            raise StoryNotFound(f"no SAGA story {story_id[:200]!r}{where}")
        if len(found) > 1:
            names = ", ".join(story.project for story in found)
            raise AmbiguousStory(
                f"story {story_id!r} is in {len(found)} projects ({names}): name one with ?project="
            )
        return found[0]

    def story_of(self, info: SessionInfo) -> Story | None:
        """The story a v4 session works on: in its worktree's project, else the only one."""
        if info.output_format != "messages":
            return None
        project = project_of_session(info)
        if project is not None:
            held = self.projects.get(project)
            return None if held is None else held.stories.get(info.story_slug)
        found = [
            p.stories[info.story_slug]
            for p in self.projects.values()
            if info.story_slug in p.stories
        ]
        return found[0] if len(found) == 1 else None

    def enrich_all(self, sessions: Sequence[SessionInfo]) -> list[SessionInfo]:
        """Each session with what its story says (see :func:`enrich`)."""
        return [enrich(info, self.story_of(info)) for info in sessions]


def enrich(info: SessionInfo, story: Story | None) -> SessionInfo:
    """A v4 session with its story's epic, first unresolved blocker and task count.

    ``epicSlug`` becomes the story's epic; ``worker.blocker`` the title of its first unresolved
    journal blocker; ``worker.tasks.total`` its number of task files. Anything else passes.
    """
    if story is None or info.output_format != "messages":
        return info
    worker = info.worker if info.worker is not None else WorkerReading()
    blockers = story.blockers
    tasks = worker.tasks if worker.tasks is not None else TaskCounts()
    return replace(
        info,
        epic_slug=story.epic,
        worker=replace(
            worker,
            blocker=blockers[0] if blockers else worker.blocker,
            tasks=replace(tasks, total=len(story.tasks)),
        ),
    )


def _project_key(project: str | None) -> Path | None:
    # A path no project has (a NUL in it included) matches nothing: a filter, not an error.
    return None if project is None else Path(os.path.abspath(project))


# -- the notebook's functions

_catalogs: dict[tuple[str, ...], Catalog] = {}
_catalogs_lock = threading.Lock()


def catalog_for(project_dirs: Iterable[PathArg] | PathArg | None = None) -> Catalog:
    """The process's catalog of these project directories (default ``$SAGA_PROJECT_DIR``)."""
    if project_dirs is None:
        dirs = default_project_dirs()
    elif isinstance(project_dirs, (str, os.PathLike)):
        dirs = [os.fspath(project_dirs)]
    else:
        dirs = [os.fspath(path) for path in project_dirs]
    key = tuple(os.path.abspath(path) for path in dirs)
    with _catalogs_lock:
        catalog = _catalogs.get(key)
        if catalog is None:
            catalog = _catalogs[key] = Catalog(key)
    return catalog


def list_stories(
    epic: str | None = None,
    status: str | None = None,
    project: str | None = None,
    *,
    project_dirs: Iterable[PathArg] | PathArg | None = None,
) -> StoryList:
    """The stories of the SAGA projects matching every filter, by project then id.

    ``project_dirs``: the projects to read (default ``$SAGA_PROJECT_DIR``); ``status`` is
    ``"pending"``, ``"inProgress"`` or ``"completed"``. A notebook shows the list as a table,
    with a ``to_dataframe()`` for pandas. Files that could not be read are in each project's
    ``errors`` (``saga_jupyter.core.saga.catalog.catalog_for(...).projects``).
    """
    catalog = catalog_for(project_dirs)
    with _catalogs_lock:  # one refresh of a catalog at a time
        catalog.refresh()
    return StoryList(catalog.list_stories(epic, status, project))  # InvalidRequest: a ValueError


def get_story(
    story_id: str,
    project: str | None = None,
    *,
    project_dirs: Iterable[PathArg] | PathArg | None = None,
) -> Story:
    """One story by id, its tasks and journal; ``StoryNotFound`` or ``AmbiguousStory``."""
    catalog = catalog_for(project_dirs)
    with _catalogs_lock:
        catalog.refresh()
    return catalog.get_story(story_id, project)
