"""One SAGA project's ``.saga/`` directory, read as SAGA reads it and re-read incrementally.

Layout (``SAGA-V4.md`` §4): ``epics/<id>.json``; ``stories/<id>/story.json``, its task files
(every other ``*.json`` there) and ``journal.md``; and ``worktrees/<id>/``, the story's git
worktree, whose own ``.saga/stories/<id>/`` is the copy a running worker updates: it wins.

Everything under ``.saga/`` is written by agents. Files are read by :mod:`.reads`; directories
are never entered through a link. A file that fails is one entry in :attr:`Project.errors`
and the rest of the project reads on.

Each story keeps the signature of its directory (every entry's name, inode, size and mtime):
:meth:`Project.refresh` re-reads a story only when that changed, so a task file written
re-reads that story, not the project. One refresh runs at a time (the caller's promise); what
readers see (:attr:`Project.stories`, :attr:`Project.epics`, :attr:`Project.errors`) is
replaced whole at its end, never changed in place.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .journal import JournalEntry, parse_journal
from .reads import FileProblem, read_journal, read_json
from .shapes import json_object, strings, task_from_json, text_of
from .stories import Epic, Story

logger = logging.getLogger(__name__)

STORY_ID = re.compile(r"\A[a-z0-9]+(?:-[a-z0-9]+)*\Z")
MAX_ID = 200
MAX_STORIES = 10_000  # per project: more is not a SAGA project
MAX_TASKS = 1_000  # per story
MAX_EPICS = 1_000
STORY_FILE, JOURNAL_FILE = "story.json", "journal.md"
# What a watched directory's event makes refresh (see Project.watch_plan).
EPICS, ALL, CHILD = "epics", "all", "child"

Signature = tuple[tuple[str, int, int, int], ...]


@dataclass(frozen=True)
class ProjectError:
    """A file of the project that could not be read, and why (a sentence)."""

    file: str  # relative to the project
    error: str

    def to_json(self) -> dict[str, str]:
        """``{"file", "error"}``."""
        return {"file": self.file, "error": self.error}


@dataclass
class _StoryState:
    directory: Path | None = None
    signature: Signature | None = None
    story: Story | None = None
    errors: list[ProjectError] = field(default_factory=list)


class Project:
    """The epics, stories and errors of one project directory (the one holding ``.saga/``)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.path.abspath(path))
        self.saga = self.path / ".saga"
        #: As of the last refresh: stories by id, epics, and every file that failed.
        self.stories: dict[str, Story] = {}
        self.epics: list[Epic] = []
        self.errors: list[ProjectError] = []
        #: Counts the states published: what was built from one (a JSON body) holds till the next.
        self.version = 0
        self._states: dict[str, _StoryState] = {}
        self._epics_signature: Signature | None = None
        self._epic_files: list[tuple[str, str, str, tuple[tuple[str, tuple[str, ...]], ...]]] = []
        self._epic_errors: list[ProjectError] = []
        self._layout_errors: list[ProjectError] = []
        self._plan: tuple[set[str], dict[Path, tuple[bool, str]]] | None = None

    def __repr__(self) -> str:
        return f"<Project {self.path}: {len(self.stories)} stories>"

    def summary_json(self) -> dict[str, Any]:
        """``{"path", "epics", "stories", "errors"}`` (counts, and every error)."""
        return {
            "path": str(self.path),
            "epics": len(self.epics),
            "stories": len(self.stories),
            "errors": [error.to_json() for error in self.errors],
        }

    # -- reading

    def refresh(self, story_ids: Iterable[str] | None = None, *, epics: bool = True) -> set[str]:
        """Re-read what changed: every story (``None``) or those given, and the epics.

        Returns the ids of the stories that changed, came or went. Blocks (file reads): call
        it off any event loop.
        """
        self._layout_errors = []
        if story_ids is None:
            wanted = self._story_ids()
            gone = set(self._states) - wanted
        else:
            wanted = {i for i in story_ids if _valid_id(i)}
            gone = set()
        changed = {story_id for story_id in wanted if self._refresh_story(story_id)}
        for story_id in gone:
            if self._states.pop(story_id).story is not None:
                changed.add(story_id)
        epics_changed = epics and self._refresh_epics()
        if changed or gone or epics_changed or story_ids is None:
            self._publish()
        return changed

    def _story_ids(self) -> set[str]:
        """Every story id with a directory on main, or a worktree."""
        if not _is_directory(self.saga):
            self._layout_errors.append(
                ProjectError(".saga", "no .saga directory here: the project was moved or deleted?")
            )
            return set()
        # Every worktree, its story there yet or not: watched, its story is seen as it appears.
        return {*self._children(self.saga / "stories"), *self._children(self.saga / "worktrees")}

    def _children(self, directory: Path) -> list[str]:
        """The directories in ``directory`` named as story ids (links and bad names reported)."""
        names: list[str] = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if len(names) >= MAX_STORIES:
                        self._error(directory, f"more than {MAX_STORIES} stories: the rest ignored")
                        break
                    if entry.is_symlink():
                        self._error(Path(entry.path), "a link, not a directory: not followed")
                    elif not entry.is_dir(follow_symlinks=False):
                        continue  # a stray file is not a story
                    elif not _valid_id(entry.name):
                        why = "not a SAGA story id (lowercase letters, digits and dashes)"
                        self._error(Path(entry.path), why)
                    else:
                        names.append(entry.name)
        except FileNotFoundError:
            pass
        except OSError as error:
            self._error(directory, f"cannot be listed: {error.strerror or error}")
        return names

    def _worktree_dir(self, story_id: str, errors: list[ProjectError] | None = None) -> Path | None:
        """The worktree's copy of the story's directory, if every step there is a directory."""
        # Strings, not Paths, on the way: every story takes this walk on every full re-read.
        step = os.path.join(self.saga, "worktrees")
        for part in (story_id, ".saga", "stories", story_id):
            step = os.path.join(step, part)
            kind = _kind(step)
            if kind != "directory":
                if kind == "link" and errors is not None:
                    why = "a link, not a directory: not followed"
                    errors.append(self._relative(Path(step), why))
                return None
        return Path(step)

    def _refresh_story(self, story_id: str) -> bool:
        """Re-read one story if its directory changed; whether what readers see changes."""
        state = self._states.setdefault(story_id, _StoryState())
        errors: list[ProjectError] = []
        directory = self._locate(story_id, errors)
        signature = None if directory is None else _signature(directory)
        if (directory, signature) == (state.directory, state.signature) and signature is not None:
            return False
        before, errors_before = state.story, state.errors
        state.directory, state.signature, state.errors = directory, signature, errors
        if directory is not None and signature is not None:
            names = [name for name, *_ in signature]
            state.story = self._read_story(story_id, directory, names, errors)
        else:
            state.story = None
        if (
            state.story is None
            and not errors
            and _kind(self.saga / "worktrees" / story_id) == "missing"
        ):
            del self._states[story_id]  # gone without a trace (a worktree stays: its story comes)
        return state.story != before or errors != errors_before

    def _locate(self, story_id: str, errors: list[ProjectError]) -> Path | None:
        """The worktree's copy of the story's directory, else main's, else ``None``."""
        found = self._worktree_dir(story_id, errors)
        if found is None:
            main = self.saga / "stories" / story_id
            kind = _kind(main)
            if kind == "link":
                errors.append(self._relative(main, "a link, not a directory: not followed"))
            found = main if kind == "directory" else None
        return found

    def _read_story(
        self, story_id: str, directory: Path, names: list[str], errors: list[ProjectError]
    ) -> Story | None:
        """The story in ``directory`` (whose entries are ``names``); ``None`` without one."""
        try:
            data = json_object(read_json(directory / STORY_FILE), STORY_FILE)
        except FileProblem as problem:
            errors.append(self._problem(directory / STORY_FILE, problem))
            return None
        tasks = []
        task_files = sorted(n for n in names if n.endswith(".json") and n != STORY_FILE)
        if len(task_files) > MAX_TASKS:
            why = f"more than {MAX_TASKS} tasks: the rest ignored"
            errors.append(self._relative(directory, why))
        for name in task_files[:MAX_TASKS]:
            try:
                tasks.append(task_from_json(name, read_json(directory / name)))
            except FileProblem as problem:
                errors.append(self._problem(directory / name, problem))
        journal: tuple[JournalEntry, ...] = ()
        if JOURNAL_FILE in names:
            try:
                text, problems = read_journal(directory / JOURNAL_FILE)
                journal = tuple(parse_journal(text))
                errors.extend(self._relative(directory / JOURNAL_FILE, why) for why in problems)
            except FileProblem as problem:
                errors.append(self._problem(directory / JOURNAL_FILE, problem))
        worktree = self.saga / "worktrees" / story_id
        return Story(
            id=story_id,
            title=text_of(data, "title") or story_id,
            project=str(self.path),
            description=text_of(data, "description") or "",
            epic=text_of(data, "epic"),
            guidance=text_of(data, "guidance"),
            done_when=text_of(data, "doneWhen"),
            avoid=text_of(data, "avoid"),
            branch=text_of(data, "branch"),
            pr=text_of(data, "pr"),
            worktree=str(worktree) if directory.is_relative_to(worktree) else None,
            tasks=tuple(tasks),
            journal=journal,
            directory=str(directory),
        )

    def _refresh_epics(self) -> bool:
        directory = self.saga / "epics"
        signature = _signature(directory) if _kind(directory) == "directory" else None
        if signature == self._epics_signature and signature is not None:
            return False
        self._epics_signature = signature
        files, errors = [], []
        names = sorted(name for name, *_ in signature or () if name.endswith(".json"))
        for name in names[:MAX_EPICS]:
            try:
                data = json_object(read_json(directory / name), name)
            except FileProblem as problem:
                errors.append(self._problem(directory / name, problem))
                continue
            epic_id = text_of(data, "id") or name.removesuffix(".json")
            children = tuple(
                (child["id"], tuple(strings(child.get("blockedBy"))))
                for child in data.get("children") or ()
                if isinstance(child, dict) and isinstance(child.get("id"), str)
            ) if isinstance(data.get("children"), list) else ()  # fmt: skip
            title = text_of(data, "title") or epic_id
            files.append((epic_id, title, text_of(data, "description") or "", children))
        self._epic_files, self._epic_errors = files, errors
        return True

    def _publish(self) -> None:
        """Make what was read what readers see: stories, epics with their counts, errors."""
        stories = {i: s.story for i, s in sorted(self._states.items()) if s.story is not None}
        by_epic: dict[str, list[Story]] = {}
        for story in stories.values():
            if story.epic is not None:
                by_epic.setdefault(story.epic, []).append(story)
        self.epics = [
            Epic(epic_id, title, str(self.path), description, children,
                 tuple(story.status for story in by_epic.get(epic_id, ())))
            for epic_id, title, description, children in self._epic_files
        ]  # fmt: skip
        errors = [*self._layout_errors, *self._epic_errors]
        for state in self._states.values():
            errors.extend(state.errors)
        self.stories, self.errors = stories, errors
        self.version += 1

    # -- watching

    def watch_plan(self) -> dict[Path, tuple[bool, str]]:
        """The directories to watch: for each, whether writes matter and what to re-read.

        What an event there makes refresh: :data:`EPICS`, :data:`ALL`, :data:`CHILD` (the
        story the file is named after) or a story id.
        """
        if self._plan is not None and self._plan[0] == self._states.keys():
            return self._plan[1]  # the same stories: the same directories
        saga, worktrees = self.saga, self.saga / "worktrees"
        plan = {
            saga: (False, ALL),
            saga / "epics": (True, EPICS),
            saga / "stories": (False, CHILD),
            worktrees: (False, CHILD),
        }
        for story_id in self._states:
            plan[saga / "stories" / story_id] = (True, story_id)
            step = worktrees / story_id
            for part in (".saga", "stories", story_id):  # each step, as it appears
                plan[step] = (False, story_id)
                step = step / part
            plan[step] = (True, story_id)
        self._plan = (set(self._states), plan)
        return plan

    # -- errors

    def _error(self, path: Path, why: str) -> None:
        self._layout_errors.append(self._relative(path, why))

    def _problem(self, path: Path, problem: FileProblem) -> ProjectError:
        return ProjectError(self._name(path), str(problem))

    def _relative(self, path: Path, why: str) -> ProjectError:
        return ProjectError(self._name(path), why)

    def _name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.path))
        except ValueError:
            return str(path)


def _valid_id(story_id: str) -> bool:
    return len(story_id) <= MAX_ID and STORY_ID.match(story_id) is not None


def _kind(path: str | Path) -> str:
    """``"directory"``, ``"link"``, ``"other"`` or ``"missing"``, never following a link."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "missing"
    if stat.S_ISLNK(mode):
        return "link"
    return "directory" if stat.S_ISDIR(mode) else "other"


def _is_directory(path: Path) -> bool:
    return _kind(path) == "directory"


def _signature(directory: Path) -> Signature | None:
    """Every entry's (name, inode, size, mtime in ns), sorted; ``None`` if it cannot be listed."""
    found = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone meanwhile
                found.append((entry.name, info.st_ino, info.st_size, info.st_mtime_ns))
    except OSError:
        return None
    return tuple(sorted(found))
