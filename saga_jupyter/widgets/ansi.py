r"""Terminal output as HTML lines: what a terminal would show, safe to put in a page.

:class:`AnsiRenderer` turns text (fed in chunks, as it arrives) into lines of HTML:

- SGR colours (16, 256 and truecolor, foreground and background) and bold, dim, italic,
  underline, strike-through and inverse become ``<span>``\ s with our own classes (the 16
  palette colours, so the page's theme picks them) or an inline ``color``/``background``
  (256 and truecolor, a ``#rrggbb`` we format ourselves);
- ``\r`` returns to column 0 and later text overwrites, so a progress line shows its final
  state; backspace, tab, erase-in-line (``ESC[K``) and column moves (``ESC[G``) act as in a
  terminal; every other escape or control sequence (cursor moves, OSC titles and hyperlinks,
  ...) is dropped;
- every character of the text is HTML-escaped: the only markup is the spans made here.

A sequence or a line cut by a chunk boundary is completed by the next chunk, so the same text
renders the same however it is split (a sequence longer than ``MAX_HELD_CHARS`` is dropped
whole). Each line carries the byte offset where it starts in the file, so a viewer can read
what came before it. Styles and their markup are in :mod:`.sgr`.

>>> render("\x1b[1;31mfail\x1b[0m <b>\r") == [Line('<span class="sj-f1 sj-bold">fail</span> &lt;b&gt;', 'fail <b>', 0)]
True
"""  # noqa: E501

from __future__ import annotations

import html
import re
from typing import NamedTuple

from .sgr import DEFAULT, Style, number, open_tag, style_after

MAX_LINE_CHARS = 4096  # longer lines wrap, as in a terminal: bounds what one update re-sends
# An escape sequence longer than this is dropped whole, whatever it says, and is never held
# whole for the next chunk: the same text renders the same however reads split it.
MAX_HELD_CHARS = 4096
TAB_WIDTH = 8

# An escape sequence, possibly cut short by the end of the text (its closing group is then
# missing), or one C0/C1 control character but newline (runs of text are split at newlines:
# one regex match per line less). Tried in order: CSI, the string sequences (OSC,
# DCS, SOS, PM, APC; ended by BEL or ST; a newline aborts one, so a stray ESC] never swallows
# lines), then any other ESC sequence (charset choice, ...).
TOKEN = re.compile(
    r"\x1b(?:"
    r"\[(?P<params>[0-?]*)(?P<inter>[ -/]*)(?P<final>[@-~])?"
    r"|[\]PX^_][^\x07\x1b\n]*(?P<st>\x07|\x1b\\)?"
    r"|[ -/]*(?P<esc>[0-~])?"
    r")"
    r"|[\x00-\x09\x0b-\x1a\x1c-\x1f\x7f-\x9f]"
)


class Line(NamedTuple):
    """One rendered line: its HTML, its plain text, and the byte offset where it starts."""

    html: str
    text: str
    start: int


Segment = tuple[Style, str]


class AnsiRenderer:
    """Renders terminal output, fed in chunks as it arrives, into :class:`Line` objects.

    ``offset`` is the byte offset in the file of the first byte fed. Feed text with
    :meth:`feed`; the line still being written is :attr:`open_line`.
    """

    def __init__(self, offset: int = 0, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self.max_line_chars = max_line_chars
        self.reset(offset)

    def reset(self, offset: int = 0) -> None:
        """Forget everything: the next text starts a line at byte ``offset``, unstyled."""
        self._offset = offset  # byte offset of self._text[self._mark]
        self._line_start = offset
        self._held = ""
        self._style = DEFAULT
        self._segments: list[Segment] = []
        self._length = 0
        self._cursor = 0
        self._text = ""
        self._mark = 0
        self._done: list[Line] = []

    @property
    def open_line(self) -> Line | None:
        """The line being written (no newline yet) as it shows now; ``None`` when empty."""
        if not self._segments:
            return None
        return _line(self._segments, self._line_start)

    def feed(self, text: str, end_offset: int | None = None) -> list[Line]:
        """Render ``text``; return the lines it completed.

        ``end_offset``, when known, is the byte offset just after ``text`` in the file: it
        corrects the running offset, which counts a U+FFFD as 3 bytes whatever it replaced.
        """
        text = self._held + text
        self._held = ""
        begin_offset = self._offset
        self._text, self._mark, self._done = text, 0, []
        position = 0
        for match in TOKEN.finditer(text):
            start, position_after = match.span()
            if start > position:
                self._write(position, start)
            token = match[0]
            if token[0] != "\x1b":
                self._control(token)
            elif position_after == len(text) and _is_cut(match):
                if len(token) <= MAX_HELD_CHARS:
                    self._held = token  # the rest of it comes with the next chunk
                    text = text[:start]
                    break
                # Too long to hold, and dropped however it ends: hold a stand-in instead. Its
                # characters stand for no bytes (the sequence's are counted in this text).
                self._held = _stand_in(match)
                self._offset -= len(self._held)
            elif len(token) <= MAX_HELD_CHARS:
                params, inter, final = match.group("params", "inter", "final")
                if final is not None and not inter:
                    self._csi(params, final)
            position = position_after
        else:
            if len(text) > position:
                self._write(position, len(text))
        self._offset += _byte_length(text[self._mark :])
        if end_offset is not None:
            error = end_offset - _byte_length(self._held) - self._offset
            if self._line_start > begin_offset:  # the open line began in this text
                self._line_start += error
            self._offset += error
        done, self._done, self._text = self._done, [], ""
        return done

    def flush(self) -> list[Line]:
        """End of input: the open line becomes a complete line (an open sequence is dropped)."""
        # The dropped sequence's bytes (for a stand-in: those it took off the offset).
        self._offset += _byte_length(self._held)
        self._held = ""
        if not self._segments:
            return []
        self._text, self._mark = "", 0
        self._end_line(0)
        done, self._done = self._done, []
        return done

    # -- characters

    def _write(self, begin: int, end: int) -> None:
        """Write ``self._text[begin:end]`` (no control characters but newlines) at the cursor."""
        text = self._text
        newline = text.find("\n", begin, end)
        while newline >= 0:
            self._write_run(begin, newline)
            self._end_line(newline + 1)
            begin = newline + 1
            newline = text.find("\n", begin, end)
        self._write_run(begin, end)

    def _write_run(self, begin: int, end: int) -> None:
        while begin < end:
            room = self.max_line_chars - self._cursor
            if room <= 0:
                self._end_line(begin)
                continue
            stop = min(end, begin + room)
            self._put(self._text[begin:stop])
            begin = stop

    def _put(self, chars: str) -> None:
        if self._cursor > self._length:  # moved past the end: the gap shows as spaces
            self._segments.append((DEFAULT, " " * (self._cursor - self._length)))
            self._length = self._cursor
        count = len(chars)
        if self._cursor == self._length:
            segments = self._segments
            if segments and segments[-1][0] == self._style:
                segments[-1] = (self._style, segments[-1][1] + chars)
            else:
                segments.append((self._style, chars))
            self._length += count
        else:
            self._splice(self._cursor, self._cursor + count, (self._style, chars))
        self._cursor += count

    def _splice(self, begin: int, end: int, segment: Segment | None) -> None:
        """Replace columns ``begin:end`` of the line with ``segment`` (or with nothing)."""
        kept: list[Segment] = []
        column = 0
        placed = segment is None
        for style, text in self._segments:
            left, right = column, column + len(text)
            column = right
            if left < begin:
                kept.append((style, text[: begin - left]))
            if right > begin and not placed:
                kept.append(segment)  # type: ignore[arg-type]  # placed is False: not None
                placed = True
            if right > end:
                kept.append((style, text[max(0, end - left) :]))
        if not placed:
            kept.append(segment)  # type: ignore[arg-type]
        # Neighbours of one style are joined: the spans of a line do not depend on how the
        # writes that made it were split.
        segments: list[Segment] = []
        for style, text in kept:
            if segments and segments[-1][0] == style:
                segments[-1] = (style, segments[-1][1] + text)
            elif text:
                segments.append((style, text))
        self._segments = segments
        self._length = sum(len(text) for _, text in segments)

    def _control(self, char: str) -> None:
        if char == "\r":
            self._cursor = 0
        elif char == "\b":
            self._cursor = max(0, self._cursor - 1)
        elif char == "\t":
            stop = min((self._cursor // TAB_WIDTH + 1) * TAB_WIDTH, self.max_line_chars)
            if self._cursor >= self._length:
                self._put(" " * (stop - self._cursor))
            self._cursor = stop

    def _end_line(self, index: int) -> None:
        """Complete the open line; the next one starts at ``self._text[index]``."""
        end = self._offset + _byte_length(self._text[self._mark : index])
        self._done.append(_line(self._segments, self._line_start))
        self._offset, self._mark, self._line_start = end, index, end
        self._segments, self._length, self._cursor = [], 0, 0

    # -- escape sequences

    def _csi(self, params: str, final: str) -> None:
        if params[:1] in ("<", "=", ">", "?"):
            return  # private modes (cursor visibility, ...): nothing to show
        if final == "m":
            self._style = style_after(self._style, params)
        elif final == "K":
            mode = number(params, 0)
            if mode == 0:
                self._splice(self._cursor, self._length, None)
            elif mode == 1:
                self._splice(0, self._cursor + 1, (DEFAULT, " " * (self._cursor + 1)))
            elif mode == 2:
                self._segments, self._length = [], 0
        elif final == "G":
            self._cursor = min(max(number(params, 1), 1) - 1, self.max_line_chars)


def render(text: str) -> list[Line]:
    """Render a whole text (its last line too, newline or not) at once."""
    renderer = AnsiRenderer()
    return renderer.feed(text) + renderer.flush()


def _line(segments: list[Segment], start: int) -> Line:
    if len(segments) == 1:  # most lines: one style throughout
        style, text = segments[0]
        tag = open_tag(style)
        escaped = html.escape(text, quote=False)
        return Line(f"{tag}{escaped}</span>" if tag else escaped, text, start)
    parts = []
    for style, text in segments:
        tag = open_tag(style)
        escaped = html.escape(text, quote=False)
        parts.append(f"{tag}{escaped}</span>" if tag else escaped)
    return Line("".join(parts), "".join(text for _, text in segments), start)


def _is_cut(match: re.Match[str]) -> bool:
    """Whether an escape sequence match ended because the text did, not the sequence."""
    if match.group("params") is not None:
        return match.group("final") is None
    if match.group()[1:2] in ("]", "P", "X", "^", "_"):
        return match.group("st") is None
    return match.group("esc") is None


def _stand_in(match: re.Match[str]) -> str:
    """A short sequence that the rest of an over-long one continues alike, and never applied.

    Only a CSI sequence is ever applied, and not a private mode (``?``) nor one with an
    intermediate byte: the stand-in for a CSI one is one of those.
    """
    if match.group("params") is not None:
        return "\x1b[ " if match.group("inter") else "\x1b[?"
    if match.group()[1:2] in ("]", "P", "X", "^", "_"):
        return match.group()[:2]
    return "\x1b "  # intermediate bytes: only they make another ESC sequence long


def _byte_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
