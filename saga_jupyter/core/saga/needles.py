r"""Where appended output can hold a marker, found at C speed: the bytes before it go unparsed.

A worker's output is mostly text no reading takes anything from (test runs, file contents,
progress bars). Decoding it, stripping its ANSI sequences and running every marker's pattern
over it cost ~13 ms of CPU per MiB (v3) and parsing every JSON line ~8 ms (v4). Instead, a
few passes of compiled byte patterns with literal prefixes (each ~0.3 ms/MiB) find the first
place a marker *could* start; only from there on is the text read as before.

The patterns are a superset of what the readers find, never a guess:

* v3 (:mod:`.worker`): every word a marker or the final JSON needs (``Worker``, ``Tool:``,
  ``Starting``, a ``{`` starting a line), with any ANSI sequences between its characters,
  matched as :data:`~saga_jupyter.core.text.ANSI_PATTERN` strips them (atomically: linear).
  A marker can hold no ``\n`` or ``\r`` (outside an OSC sequence): the text after the last
  one before the first possible marker is all a reader needs of what comes before
  (:func:`v3_resume_at`).
* v4 (:mod:`.messages`): the JSON tokens a message must hold to change a reading
  (``"tool_use"``, ``"saga_worker"``, ``"result"``, ``"init"``), or a ``\u`` escape of a
  letter or ``_`` (a token spelt with escapes). Inside a JSON string a ``"`` is escaped, so
  these appear unescaped only as tokens (or in a string that quotes them: parsed, harmless).
"""

from __future__ import annotations

import re

# ANSI_PATTERN's three kinds, in its order, each as its sub() strips it: atomic, so the work
# at a position is linear however many sequences follow (no backtracking between kinds).
_ESCAPE_REST = rb"(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
_SEQUENCES = rb"(?:\x1b" + _ESCAPE_REST + rb")*+"


def _spaced(word: bytes) -> re.Pattern[bytes]:
    """``word`` with any ANSI sequences between its characters (a literal first byte)."""
    return re.compile(_SEQUENCES.join(re.escape(word[i : i + 1]) for i in range(len(word))))


# One pattern each: a literal first byte lets the engine skip to it at C speed, where one
# pattern of alternatives tries each at every position (measured: 4.5 ms/MiB against 0.3 each).
V3_NEEDLES = (
    _spaced(b"Worker"),  # --- Worker <n> started|result: ... ---
    _spaced(b"Tool:"),  # [Tool: <name>]
    _spaced(b"Starting"),  # Starting story implementation...
    re.compile(rb"\n\{"),  # the final JSON's first line (or any "{" starting a line)
    re.compile(rb"\n\x1b(?>" + _ESCAPE_REST + rb")" + _SEQUENCES + rb"\{"),  # ... after colours
)
V4_NEEDLES = (
    re.compile(rb'"tool_use"'),
    re.compile(rb'"saga_worker"'),
    re.compile(rb'"result"'),
    re.compile(rb'"init"'),
    re.compile(rb"\\u00[5-7]"),  # a letter or "_" escaped: JSON.stringify never writes one
)
KEEP = 128  # bytes of a skipped piece still fed: its last 32 characters hold a cut escape


def first_needle(needles: tuple[re.Pattern[bytes], ...], data: bytes, start: int = 0) -> int:
    """Where the first possible marker in ``data[start:]`` starts, or ``len(data)``."""
    first = len(data)
    for needle in needles:
        found = needle.search(data, start)
        if found is not None and found.start() < first:
            first = found.start()
    return first


def v3_resume_at(before: bytes, piece: bytes) -> int | None:
    r"""Where in ``piece`` a v3 reader may start afresh, having skipped what comes before.

    ``before``: the plain text the reader keeps from earlier feeds (a marker may continue from
    it). ``None`` when a marker may start in ``before`` or in the first bytes of ``piece``.
    Else the last ``\n`` or ``\r`` (not inside an OSC sequence) before the first possible
    marker, and :data:`KEEP` bytes before the end of ``piece``: a marker cannot span it.
    """
    probe = before + piece
    first = first_needle(V3_NEEDLES, probe) - len(before)
    limit = min(first, len(piece) - KEEP)
    if limit <= 0:
        return None
    boundary = max(piece.rfind(b"\n", 0, limit), piece.rfind(b"\r", 0, limit))
    if boundary < 0:
        return None
    # An OSC sequence's text (up to BEL or ESC) may hold line ends: is this one of them?
    escape = piece.rfind(b"\x1b", 0, boundary)
    inside = escape >= 0 and piece[escape + 1 : escape + 2] == b"]"
    if inside and piece.find(b"\x07", escape, boundary) < 0:
        return None
    return boundary


def v4_lines(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    r"""The lines of ``data[start:end]`` (whole ``\n``-ended ones) that may change a reading.

    Each as ``(start, end)``, its ``\n`` at ``end``, in order; the others hold none of
    :data:`V4_NEEDLES`, so parsed they would only be counted.
    """
    starts: set[int] = set()
    for needle in V4_NEEDLES:
        at = start
        while (found := needle.search(data, at, end)) is not None:
            line = data.rfind(b"\n", start, found.start()) + 1
            starts.add(line if line > 0 else start)
            at = data.index(b"\n", found.start()) + 1  # one search a line, however many in it
    return [(line, data.index(b"\n", line)) for line in sorted(starts)]
