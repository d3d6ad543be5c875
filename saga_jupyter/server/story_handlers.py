"""REST handlers of the SAGA projects: ``/api/saga/projects``, ``/epics``, ``/stories``.

They answer from the projects' last read (:mod:`.projects`), never reading a file themselves;
with ``?host=``, a remote's answer (:mod:`.federation`). A server with remotes lists their
epics and stories too, each with ``host`` and ``stale`` (:mod:`.remote_projects`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import SagaHandler
from .projects import Projects


class ProjectsBase(SagaHandler):
    """What the project handlers share: the extension's :class:`~.projects.Projects`."""

    @property
    def projects(self) -> Projects:
        """The projects being watched."""
        projects: Projects = self.extensionapp.projects  # type: ignore[attr-defined]
        return projects

    async def prepare(self) -> None:  # type: ignore[override]
        """Answer once the projects were read (right after a start, the first read)."""
        await super().prepare()
        await self.projects.wait_read()

    def write_body(self, body: bytes) -> None:
        """Finish with a JSON body already encoded."""
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    def _argument(self, name: str) -> str | None:
        value: str | None = self.get_query_argument(name, None)
        return value

    def write_merged(
        self, route: str, own: Callable[[], list[dict[str, Any]]], **filters: str | None
    ) -> bool:
        """With remotes, answer with this server's ``route`` list and theirs; else ``False``.

        ``?host=`` alone: this server's own only (each still with ``host`` and ``stale``).
        """
        federation = self.manager.federation
        if federation is None:
            return False
        hosts = None if self._argument("host") is None else ()
        version = self.projects.version()
        self.write_body(federation.projects.merged(route, own, version, filters, hosts))
        return True


class ProjectsHandler(ProjectsBase):
    """``GET /api/saga/projects``: each project, its counts and the files that failed."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """List the projects."""
        if await self.passed_through():  # ?host=: a remote's
            return
        self.write_json(self.projects.projects_json())


class EpicsHandler(ProjectsBase):
    """``GET /api/saga/epics``: every project's epics with their derived status and counts."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """List the epics."""
        if await self.passed_through():  # ?host=: a remote's
            return
        if not self.write_merged("epics", self.projects.epics_json):
            self.write_body(self.projects.epics_body())


class StoriesHandler(ProjectsBase):
    """``GET /api/saga/stories``: StorySummary of each story (``?epic=&status=&project=``)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """List the stories matching every filter given."""
        if await self.passed_through():  # ?host=: a remote's
            return
        epic, status, project = (self._argument(key) for key in ("epic", "status", "project"))
        stories = self.projects.catalog.list_stories(epic, status, project)  # checks the filters
        summaries = self.projects.summaries
        if self.write_merged(
            "stories", lambda: summaries(stories), epic=epic, status=status, project=project
        ):
            return
        found = self.projects.stories_json(epic, status, project)
        if isinstance(found, bytes):
            self.write_body(found)
        else:
            self.write_json(found)


class StoryHandler(ProjectsBase):
    """``GET /api/saga/stories/{id}``: one story in full; 409 when two projects hold the id."""

    @web.authenticated
    @authorized
    async def get(self, story_id: str) -> None:
        """One story: summary, texts, tasks and journal (``?project=`` to choose)."""
        if await self.passed_through():  # ?host=: a remote's
            return
        self.write_json(self.projects.story_json(story_id, self._argument("project")))
