r"""A story's ``journal.md`` as SAGA's dashboard splits it: session, blocker, resolution entries.

The text is split at every line starting with ``##`` and whitespace; a section whose header
starts with ``Session:``, ``Blocker:`` or ``Resolution:`` (any case) is an entry, ``###``
sub-headers stay inside it, and everything else is dropped. A blocker is unresolved until a
later resolution references it, as SAGA's resolve-blocker skill writes them: one title contains
the other, ignoring case; a resolution naming no blocker resolves the latest unresolved one
before it.

>>> entries = parse_journal("## Blocker: API key\nneeded\n## Resolution: API key\ngiven\n")
>>> [(entry.type, entry.title, entry.resolved) for entry in entries]
[('blocker', 'API key', True), ('resolution', 'API key', None)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

EntryType = Literal["session", "blocker", "resolution"]
SECTION = re.compile(r"^##\s+", re.MULTILINE)
HEADER = re.compile(r"(?P<type>session|blocker|resolution)\s*:\s*(?P<title>.*)", re.IGNORECASE)
MAX_TITLE = 500  # characters: a header line is a title, not a document


@dataclass(frozen=True)
class JournalEntry:
    """One entry: its type, title, markdown content; ``resolved`` for a blocker, else ``None``."""

    type: EntryType
    title: str
    content: str
    resolved: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """The contract's journal entry."""
        return {
            "type": self.type,
            "title": self.title,
            "content": self.content,
            "resolved": self.resolved,
        }


def parse_journal(text: str) -> list[JournalEntry]:
    """The entries of a journal, in order, each blocker marked resolved or not."""
    found: list[tuple[EntryType, str, str]] = []
    for section in SECTION.split(text)[1:]:  # before the first header: no entry
        header, _, content = section.partition("\n")
        match = HEADER.match(header)
        if match is None:
            continue
        kind: EntryType = match["type"].lower()  # type: ignore[assignment]
        found.append((kind, match["title"].strip()[:MAX_TITLE], content.strip()))
    resolved = _resolved(found)
    return [
        JournalEntry(kind, title, content, (index in resolved) if kind == "blocker" else None)
        for index, (kind, title, content) in enumerate(found)
    ]


def _resolved(entries: list[tuple[EntryType, str, str]]) -> set[int]:
    """The indexes of the blockers some later resolution references."""
    unresolved: list[int] = []  # in order
    resolved: set[int] = set()
    for index, (kind, title, _) in enumerate(entries):
        if kind == "blocker":
            unresolved.append(index)
        elif kind == "resolution" and unresolved:
            wanted = title.casefold()
            matching = [
                at
                for at in unresolved
                if wanted and (blocker := entries[at][1].casefold())
                if wanted in blocker or blocker in wanted
            ]
            # The latest it names; naming none, the latest unresolved of all.
            chosen = matching[-1] if matching else unresolved[-1]
            unresolved.remove(chosen)
            resolved.add(chosen)
    return resolved


def unresolved_blockers(entries: list[JournalEntry] | tuple[JournalEntry, ...]) -> list[str]:
    """The titles of the blockers not resolved, in the journal's order."""
    return [entry.title for entry in entries if entry.type == "blocker" and not entry.resolved]
