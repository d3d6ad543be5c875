"""Reading files under ``.saga/``, which agents write: regular files only, bounded, decoded.

Every file is opened by :func:`~saga_jupyter.core.watch.files.open_regular` (no link followed, no
FIFO waited on). A JSON file is at most :data:`MAX_JSON_BYTES` and nests at most
:data:`~saga_jupyter.core.inputs.MAX_JSON_DEPTH` levels; a journal is read from its last
:data:`MAX_JOURNAL_BYTES`. What fails raises :class:`FileProblem` with a sentence a person
understands; the caller lists it in the project's ``errors`` and goes on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InvalidRequest
from ..inputs import MAX_JSON_DEPTH, load_json
from ..watch.files import open_regular

MAX_JSON_BYTES = 1 << 20
MAX_JOURNAL_BYTES = 4 << 20
MIB = 1 << 20


class FileProblem(Exception):
    """A file under ``.saga/`` that cannot be read as what it should be; ``str()`` says why."""


def read_bounded(path: Path, limit: int, *, tail: bool = False) -> tuple[bytes, int]:
    """At most ``limit`` bytes of a regular file (its last ones with ``tail``), and its size.

    Without ``tail`` a larger file is refused (``FileProblem``).
    """
    try:
        fd, info = open_regular(path)
    except FileNotFoundError as error:
        # open_regular says "a link" / "not a regular file" in strerror for what it refuses.
        why = error.strerror if error.strerror and "regular" in error.strerror else "missing"
        raise FileProblem(f"{path.name} is {_article(why)}: not read") from None
    except OSError as error:
        raise FileProblem(f"{path.name} cannot be opened: {error.strerror or error}") from None
    try:
        size = info.st_size
        if size > limit and not tail:
            raise FileProblem(
                f"{path.name} is {size / MIB:.1f} MiB: larger than the {limit // MIB} MiB "
                "a SAGA file may be, not read"
            )
        start = max(0, size - limit)
        parts, offset = [], start
        while offset < size and (part := os.pread(fd, min(size - offset, 1 << 20), offset)):
            parts.append(part)
            offset += len(part)
        return b"".join(parts), size
    except OSError as error:
        raise FileProblem(f"{path.name} cannot be read: {error.strerror or error}") from None
    finally:
        os.close(fd)


def read_json(path: Path) -> Any:
    """A JSON file's value: UTF-8, at most 1 MiB, nested at most 32 levels deep."""
    data, _ = read_bounded(path, MAX_JSON_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileProblem(
            f"{path.name} is not UTF-8 text (byte {error.start} is not): not read"
        ) from None
    try:
        return load_json(text, path.name)
    except InvalidRequest as error:
        detail = str(error)
        if "deeper" in detail:
            raise FileProblem(f"{detail} (at most {MAX_JSON_DEPTH}): not read") from None
        raise FileProblem(f"{detail}: not read") from None


def read_journal(path: Path) -> tuple[str, list[str]]:
    """A journal's text (its last 4 MiB) and what is wrong with it (still shown as it can be)."""
    data, size = read_bounded(path, MAX_JOURNAL_BYTES, tail=True)
    problems = []
    if size > MAX_JOURNAL_BYTES:
        # The first section read is a fragment (its header lies before the cut): dropped by
        # the parser, which keeps only sections with a header.
        problems.append(
            f"{path.name} is {size / MIB:.1f} MiB: only its last "
            f"{MAX_JOURNAL_BYTES // MIB} MiB are read"
        )
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(
            f"{path.name} is not all UTF-8 text (from byte {error.start}): "
            "the rest is shown with \ufffd in their place"
        )
        text = data.decode("utf-8", errors="replace")
    return text, problems


def _article(why: str) -> str:
    return why if why.startswith(("a ", "not ", "missing")) else f"a {why}"
