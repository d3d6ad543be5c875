"""Epics, stories and tasks as SAGA defines them, with their derived statuses and JSON forms.

SAGA stores no status for stories and epics: a story is ``inProgress`` when a task is,
``completed`` when all are, else ``pending`` (an empty story is pending); an epic likewise
over its stories. Task files say ``in_progress``; every JSON form here says ``inProgress``, as
SAGA's dashboard does.

>>> story = Story("login", "Log in", project="/p", tasks=(Task("t1", status="completed"),))
>>> story.status, story.task_counts()
('completed', {'total': 1, 'completed': 1, 'inProgress': 0})
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..display import dataframe, html_table
from .journal import JournalEntry, unresolved_blockers

Status = Literal["pending", "inProgress", "completed"]
STATUSES: tuple[Status, ...] = ("pending", "inProgress", "completed")
# What a task file may say, and what it means here.
TASK_STATUSES: dict[str, Status] = {
    "pending": "pending",
    "in_progress": "inProgress",
    "completed": "completed",
}


def derive_status(statuses: Iterable[Status]) -> Status:
    """SAGA's rule: in progress if one is, completed if all are, else (or empty) pending."""
    seen = list(statuses)
    if "inProgress" in seen:
        return "inProgress"
    if seen and all(status == "completed" for status in seen):
        return "completed"
    return "pending"


@dataclass(frozen=True)
class Task:
    """One task file of a story."""

    id: str
    subject: str = ""
    description: str = ""
    status: Status = "pending"
    blocked_by: tuple[str, ...] = ()
    active_form: str | None = None
    guidance: str | None = None
    done_when: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's task object."""
        return {
            "id": self.id,
            "subject": self.subject,
            "description": self.description,
            "status": self.status,
            "blockedBy": list(self.blocked_by),
            "activeForm": self.active_form,
        }


@dataclass(frozen=True, repr=False)
class Story:
    """One story: its ``story.json``, tasks and journal (the worktree's copy when it has one).

    In a notebook it shows as a table (``_repr_html_``); :meth:`to_dataframe` for pandas.
    """

    id: str
    title: str
    project: str
    description: str = ""
    epic: str | None = None
    guidance: str | None = None
    done_when: str | None = None
    avoid: str | None = None
    branch: str | None = None
    pr: str | None = None
    worktree: str | None = None
    tasks: tuple[Task, ...] = ()
    journal: tuple[JournalEntry, ...] = ()
    #: The sessions that worked on it, newest first (known where sessions are).
    sessions: tuple[str, ...] = ()
    #: Where its files were read from: the worktree's story directory or the main one.
    directory: str = field(default="", compare=False)

    def __repr__(self) -> str:
        return f"<Story {self.id} {self.status} {self.progress}>"

    @property
    def status(self) -> Status:
        """Derived from its tasks, as SAGA derives it."""
        return derive_status(task.status for task in self.tasks)

    @property
    def blockers(self) -> list[str]:
        """The titles of its journal's unresolved blockers."""
        return unresolved_blockers(self.journal)

    @property
    def progress(self) -> str:
        """``3/5 tasks``."""
        counts = self.task_counts()
        return f"{counts['completed']}/{counts['total']} tasks"

    def task_counts(self) -> dict[str, int]:
        """``{"total", "completed", "inProgress"}``."""
        statuses = [task.status for task in self.tasks]
        return {
            "total": len(statuses),
            "completed": statuses.count("completed"),
            "inProgress": statuses.count("inProgress"),
        }

    def summary_json(self) -> dict[str, Any]:
        """The contract's StorySummary."""
        return {
            "id": self.id,
            "title": self.title,
            "epic": self.epic,
            "project": self.project,
            "status": self.status,
            "tasks": self.task_counts(),
            "blockers": self.blockers,
            "branch": self.branch,
            "pr": self.pr,
            "sessions": list(self.sessions),
        }

    def to_json(self) -> dict[str, Any]:
        """The contract's story detail: the summary, its texts, tasks and journal."""
        return {
            **self.summary_json(),
            "description": self.description,
            "guidance": self.guidance,
            "doneWhen": self.done_when,
            "avoid": self.avoid,
            "worktree": self.worktree,
            "tasks": [task.to_json() for task in self.tasks],
            "journal": [entry.to_json() for entry in self.journal],
        }

    def to_record(self) -> dict[str, Any]:
        """A flat dict for tables: the summary's fields, task counts as their own columns."""
        record = self.summary_json()
        counts = record.pop("tasks")
        record.update(tasks=counts["total"], completed=counts["completed"])
        record.update(blockers=len(record["blockers"]), sessions=len(record["sessions"]))
        return record

    def to_dataframe(self) -> Any:
        """A pandas DataFrame of its tasks, one row each (pandas is not a dependency)."""
        return dataframe([task.to_json() for task in self.tasks], TASK_COLUMNS)

    def _repr_html_(self) -> str:
        esc = html.escape
        head = (
            f"<p><strong>{esc(self.title)}</strong> ({esc(self.id)}, {esc(self.status)}, "
            f"{esc(self.progress)}{', epic ' + esc(self.epic) if self.epic else ''})</p>"
        )
        rows = "".join(
            f"<tr><td>{esc(task.status)}</td><td>{esc(task.id)}</td>"
            f"<td>{esc(task.subject)}</td></tr>"
            for task in self.tasks
        )
        blockers = "".join(f"<li>{esc(title)}</li>" for title in self.blockers)
        return (
            f'<div class="saga-story">{head}'
            + (f"<p>Unresolved blockers:</p><ul>{blockers}</ul>" if blockers else "")
            + (f"<table><tbody>{rows}</tbody></table>" if rows else "<p><em>No tasks.</em></p>")
            + "</div>"
        )


@dataclass(frozen=True)
class Epic:
    """One epic file, with the status and counts of its stories."""

    id: str
    title: str
    project: str
    description: str = ""
    children: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (story id, blocked by)
    story_statuses: tuple[Status, ...] = ()

    @property
    def status(self) -> Status:
        """Derived from its stories, as SAGA derives it."""
        return derive_status(self.story_statuses)

    def story_counts(self) -> dict[str, int]:
        """``{"total", "pending", "inProgress", "completed"}``."""
        statuses = list(self.story_statuses)
        return {"total": len(statuses), **{status: statuses.count(status) for status in STATUSES}}

    def to_json(self) -> dict[str, Any]:
        """The contract's epic object."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "project": self.project,
            "status": self.status,
            "storyCounts": self.story_counts(),
        }


class StoryList(list[Story]):
    """Stories that a notebook shows as a table; :meth:`to_dataframe` for pandas."""

    def _repr_html_(self) -> str:
        rows = (
            (story.id, story.epic or "", story.status, story.progress, "; ".join(story.blockers))
            for story in self
        )
        columns = ("story", "epic", "status", "tasks", "blockers")
        return html_table(columns, rows, "No SAGA stories.", "saga-stories")

    def to_dataframe(self) -> Any:
        """The stories as a pandas DataFrame, one row each (pandas is not a dependency)."""
        return dataframe([story.to_record() for story in self], STORY_COLUMNS)


TASK_COLUMNS = ["id", "subject", "description", "status", "blockedBy", "activeForm"]
STORY_COLUMNS = [
    "id", "title", "epic", "project", "status", "tasks", "completed", "blockers", "branch",
    "pr", "sessions",
]  # fmt: skip
