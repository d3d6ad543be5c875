"""The shapes of SAGA's JSON files, taken as they come: agents write them, anything may be off.

A field of the wrong type reads as absent; a file that is no object, or a task whose status is
none of SAGA's, is a :class:`~.reads.FileProblem` the project lists in its ``errors``.
"""

from __future__ import annotations

from typing import Any

from .reads import FileProblem
from .stories import TASK_STATUSES, Task


def json_object(value: Any, name: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``FileProblem`` naming the file."""
    if not isinstance(value, dict):
        raise FileProblem(f"{name} holds no JSON object: not read")
    return value


def text_of(data: dict[str, Any], key: str) -> str | None:
    """``data[key]`` if it is a string, else ``None``."""
    value = data.get(key)
    return value if isinstance(value, str) else None


def strings(value: Any) -> list[str]:
    """The strings of a JSON list (anything else: none)."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def task_from_json(name: str, value: Any) -> Task:
    """A task file's task; ``FileProblem`` when it is no object or its status is none of SAGA's."""
    data = json_object(value, name)
    status = data.get("status")
    if status not in TASK_STATUSES:
        shown = repr(status)[:40] if status is not None else "none"
        raise FileProblem(
            f"{name}: status {shown} is not pending, in_progress or completed: task left out"
        )
    return Task(
        id=text_of(data, "id") or name.removesuffix(".json"),
        subject=text_of(data, "subject") or "",
        description=text_of(data, "description") or "",
        status=TASK_STATUSES[status],
        blocked_by=tuple(strings(data.get("blockedBy"))),
        active_form=text_of(data, "activeForm"),
        guidance=text_of(data, "guidance"),
        done_when=text_of(data, "doneWhen"),
    )
