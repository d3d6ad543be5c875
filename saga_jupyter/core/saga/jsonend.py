r"""Finding the JSON objects written line by line in a growing text, each character looked at once.

A worker's final result is a JSON object printed from a line ``{`` to a line ``}``, after output
anyone could have written (an agent's code, a hostile ``{`` line then 100,000 ``}`` lines).
Parsing the text so far at every line that might end one costs the square of its length.
:class:`ObjectEnds` instead follows brackets and strings as the text arrives: every ``{`` that
starts a line opens a candidate, nested in those still open, and a candidate's text is handed
over once, when a ``}`` starting a line closes it, to be parsed once. A candidate is dropped,
never handed over, when it cannot be an object: a bracket closed by the wrong one, a control
character in a string, nesting deeper than ``max_depth`` below it, or more than ``max_size``
characters. Nothing else of the grammar is checked: the parse does that.

A character is followed once, and lies in at most ``max_depth`` candidates (each one nests
deeper than the last): what is parsed is at most ``max_depth`` times what was fed.

>>> ends = ObjectEnds(max_size=100, max_depth=4)
>>> ends.feed('out {\n{\n  "status": "FINISH",\n  "note": "}"\n')
[]
>>> ends.feed('}\nmore')
['{\n  "status": "FINISH",\n  "note": "}"\n}']
"""

from __future__ import annotations

import re
from typing import NamedTuple

TOKENS = re.compile(r'[{}\[\]"]')  # outside strings, only these matter
# What a string may hold: no quote, backslash or control character, or an escaped character.
STRING_BODY = re.compile(r'(?:[^"\\\x00-\x1f]|\\[^\x00-\x1f])*')
LINE_START_BRACE = re.compile(r"(?<=\n)\{")
OPENING = re.compile(r"\{[ \t\r]*\n")  # a candidate's first line holds only "{" (\r: a split \r\n)
CLOSERS = {"{": "}", "[": "]"}


class _Open(NamedTuple):
    closer: str  # what closes this bracket
    candidate: int | None  # where its candidate starts (absolute), for a "{" starting a line


class ObjectEnds:
    """Follows a text fed in pieces; :meth:`feed` hands over each candidate object that closed."""

    def __init__(self, *, max_size: int, max_depth: int) -> None:
        self.max_size = max_size
        self.max_depth = max_depth
        self._text = "\n"  # from the outermost open candidate on, else the last character
        self._base = -1  # the position of _text[0] in all the text fed
        self._at = 1  # where following goes on in _text
        self._open: list[_Open] = []  # the open brackets of the outermost candidate, in order
        self._live: list[int] = []  # the indices in _open of candidates, outermost first
        self._in_string = False

    @property
    def idle(self) -> bool:
        """Whether no candidate is open: what follows matters only from a ``{`` starting a line."""
        return not self._live

    def feed(self, more: str) -> list[str]:
        """Follow ``more``; the texts of the candidates that closed in it, innermost first."""
        closed: list[str] = []
        if not self._live:  # only the last character matters: does the next one start a line?
            self._base, self._text, self._at = self._base + len(self._text) - 1, self._text[-1], 1
        elif self._start() - self._base > len(self._text) // 2:  # amortised: copied O(1) times
            drop = self._start() - self._base
            self._text, self._base, self._at = self._text[drop:], self._base + drop, self._at - drop
        self._text += more
        while self._follow(closed):
            pass
        return closed

    def _start(self) -> int:
        """Where the outermost open candidate starts (absolute)."""
        start = self._open[self._live[0]].candidate
        assert start is not None
        return start

    def _follow(self, closed: list[str]) -> bool:
        """Follow the text until the candidates change or all was read; whether to go on."""
        text, at = self._text, self._at
        if not self._live:
            brace = LINE_START_BRACE.search(text, at)
            if brace is None:
                self._at = len(text)
                return False
            at = brace.start()  # the loop below opens it
        stack, live = self._open, self._live
        limit = min(len(text), self._start() - self._base + self.max_size) if live else len(text)
        while True:
            if self._in_string:
                at = STRING_BODY.match(text, at, limit).end()  # type: ignore[union-attr]
                if at == limit:
                    break
                if text[at] == '"':
                    self._in_string = False
                    at += 1
                    continue
                if text[at] == "\\" and at + 1 == len(text):
                    break  # the escaped character is still to come
                return self._drop_all(at)  # a control character: no JSON string holds one
            token = TOKENS.search(text, at, limit)
            if token is None:
                at = limit
                break
            at = token.end()
            char = token.group()
            if char == '"':
                self._in_string = True
            elif char in CLOSERS:
                line_start = char == "{" and text[at - 2] == "\n"
                stack.append(_Open(CLOSERS[char], self._base + at - 1 if line_start else None))
                if line_start:
                    live.append(len(stack) - 1)
                    if len(live) == 1:  # the first: its size limit applies from here
                        self._at = at
                        return True
                if len(stack) - live[0] > self.max_depth:
                    return self._drop_outermost(at)
            elif not stack or stack[-1].closer != char:
                return self._drop_all(at)  # closed by the wrong bracket: every candidate is
            elif (start := stack.pop().candidate) is not None:
                live.pop()
                begin = start - self._base
                if text[at - 2] == "\n" and OPENING.match(text, begin):
                    closed.append(text[begin:at])
                if not live:
                    return self._drop_all(at)
        self._at = at
        if at == limit < len(text):  # the outermost is longer than max_size
            return self._drop_outermost(at)
        return False

    def _drop_outermost(self, at: int) -> bool:
        """Drop the outermost candidate at ``at``; the next one in it is followed on."""
        self._at = at
        self._live.pop(0)
        if not self._live:
            return self._drop_all(at)
        first = self._live[0]
        del self._open[:first]
        self._live = [index - first for index in self._live]
        return True

    def _drop_all(self, at: int) -> bool:
        """Drop every candidate at ``at``; a ``{`` starting a line after it opens the next."""
        self._open, self._live, self._in_string, self._at = [], [], False, at
        return True
