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

A sequence or a line cut by a chunk boundary is completed by the next chunk. Each line carries
the byte offset where it starts in the file, so a viewer can read what came before it.

>>> render("\x1b[1;31mfail\x1b[0m <b>\r") == [Line('<span class="sj-f1 sj-bold">fail</span> &lt;b&gt;', 'fail <b>', 0)]
True
"""  # noqa: E501

from __future__ import annotations

import html
import re
from typing import NamedTuple

MAX_LINE_CHARS = 4096  # longer lines wrap, as in a terminal: bounds what one update re-sends
MAX_HELD_CHARS = 4096  # an escape sequence left open longer than this is garbage, not held
TAB_WIDTH = 8

BOLD, DIM, ITALIC, UNDERLINE, INVERSE, STRIKE = 1, 2, 4, 8, 16, 32
FLAG_CLASSES = ((BOLD, "sj-bold"), (DIM, "sj-dim"), (ITALIC, "sj-italic"),
                (UNDERLINE, "sj-underline"), (STRIKE, "sj-strike"))  # fmt: skip
SGR_SET = {1: BOLD, 2: DIM, 3: ITALIC, 4: UNDERLINE, 21: UNDERLINE, 7: INVERSE, 9: STRIKE}
SGR_CLEAR = {22: BOLD | DIM, 23: ITALIC, 24: UNDERLINE, 27: INVERSE, 29: STRIKE}

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

Color = int | str | None  # a palette index 0-15, a "#rrggbb", or the default colour


class Style(NamedTuple):
    """The SGR state text is written in."""

    fg: Color = None
    bg: Color = None
    flags: int = 0


class Line(NamedTuple):
    """One rendered line: its HTML, its plain text, and the byte offset where it starts."""

    html: str
    text: str
    start: int


DEFAULT = Style()
Segment = tuple[Style, str]
# Logs repeat a handful of colour changes: each (style, parameters) pair is parsed once.
SGR_CACHE_SIZE = 4096
_SGR_CACHE: dict[tuple[Style, str], Style] = {}


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
            elif position_after == len(text) and _is_cut(match) and len(token) <= MAX_HELD_CHARS:
                self._held = token  # the rest of it comes with the next chunk
                text = text[:start]
                break
            else:
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
        self._segments = [item for item in kept if item[1]]
        self._length = sum(len(text) for _, text in self._segments)

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
            key = (self._style, params)
            style = _SGR_CACHE.get(key)
            if style is None:
                if len(_SGR_CACHE) >= SGR_CACHE_SIZE:
                    _SGR_CACHE.clear()
                style = _SGR_CACHE[key] = apply_sgr(*key)
            self._style = style
        elif final == "K":
            mode = _number(params, 0)
            if mode == 0:
                self._splice(self._cursor, self._length, None)
            elif mode == 1:
                self._splice(0, self._cursor + 1, (DEFAULT, " " * (self._cursor + 1)))
            elif mode == 2:
                self._segments, self._length = [], 0
        elif final == "G":
            self._cursor = min(max(_number(params, 1), 1) - 1, self.max_line_chars)


def render(text: str) -> list[Line]:
    """Render a whole text (its last line too, newline or not) at once."""
    renderer = AnsiRenderer()
    return renderer.feed(text) + renderer.flush()


def apply_sgr(style: Style, params: str) -> Style:
    """The style after ``ESC[<params>m``.

    >>> apply_sgr(Style(), "1;38;5;208")
    Style(fg='#ff8700', bg=None, flags=1)
    """
    fg, bg, flags = style
    # "38:2::r:g:b" (ITU form) and "38;2;r;g;b" (the common one) read alike.
    fields = params.split(";")
    index = 0
    while index < len(fields):
        field = fields[index]
        index += 1
        if ":" in field:
            parts = field.split(":")
            code = _number(parts[0], 0)
            if code in (38, 48):
                color = _extended_color(parts[1:], colon=True)
                fg, bg = (color, bg) if code == 38 else (fg, color)
            elif code == 4:
                flags = flags & ~UNDERLINE if parts[1:2] == ["0"] else flags | UNDERLINE
            continue
        code = _number(field, 0)
        if code == 0:
            fg, bg, flags = None, None, 0
        elif code in SGR_SET:
            flags |= SGR_SET[code]
        elif code in SGR_CLEAR:
            flags &= ~SGR_CLEAR[code]
        elif 30 <= code <= 37 or 90 <= code <= 97:
            fg = code - 30 if code < 90 else code - 82
        elif 40 <= code <= 47 or 100 <= code <= 107:
            bg = code - 40 if code < 100 else code - 92
        elif code == 39:
            fg = None
        elif code == 49:
            bg = None
        elif code in (38, 48):
            kind = _number(fields[index], 0) if index < len(fields) else 0
            width = 2 if kind == 5 else 4 if kind == 2 else 1
            color = _extended_color(fields[index : index + width], colon=False)
            index += width
            fg, bg = (color, bg) if code == 38 else (fg, color)
    return Style(fg, bg, flags)


def _extended_color(parts: list[str], colon: bool) -> Color:
    """``5;n`` (256 colours) or ``2;r;g;b`` (``2:cs:r:g:b`` with colons); ``None`` if bad."""
    if not parts:
        return None
    kind = _number(parts[0], -1)
    if kind == 5 and len(parts) >= 2:
        return palette_color(_number(parts[1], -1))
    if kind == 2:
        rgb = parts[1:]
        if colon and len(rgb) >= 4:
            rgb = rgb[1:]  # the colour-space id
        if len(rgb) >= 3:
            values = [_number(value, -1) for value in rgb[:3]]
            if all(0 <= value <= 255 for value in values):
                return "#{:02x}{:02x}{:02x}".format(*values)
    return None


def palette_color(index: int) -> Color:
    """A 256-colour index: 0-15 stay palette indexes (themed); the rest become ``#rrggbb``."""
    if 0 <= index < 16:
        return index
    if 16 <= index < 232:
        index -= 16
        cube = (index // 36, index // 6 % 6, index % 6)
        return "#{:02x}{:02x}{:02x}".format(
            *(0 if level == 0 else 55 + 40 * level for level in cube)
        )
    if 232 <= index < 256:
        grey = 8 + 10 * (index - 232)
        return f"#{grey:02x}{grey:02x}{grey:02x}"
    return None


_OPEN_TAGS: dict[Style, str] = {}


def open_tag(style: Style) -> str:
    """The ``<span ...>`` for a style (``""`` for the default style)."""
    tag = _OPEN_TAGS.get(style)
    if tag is None:
        tag = _OPEN_TAGS[style] = _make_open_tag(style)
    return tag


def _make_open_tag(style: Style) -> str:
    fg, bg, flags = style
    classes: list[str] = []
    styles: list[str] = []
    if flags & INVERSE:
        # A default colour swapped in is the theme's other default: a class, not a value.
        fg, bg = bg, fg
        if fg is None:
            classes.append("sj-f-inverse")
        if bg is None:
            classes.append("sj-b-inverse")
    for value, prefix, css in ((fg, "sj-f", "color"), (bg, "sj-b", "background-color")):
        if isinstance(value, int):
            classes.append(f"{prefix}{value}")
        elif value is not None:
            styles.append(f"{css}:{value}")
    classes.extend(name for flag, name in FLAG_CLASSES if flags & flag)
    if not classes and not styles:
        return ""
    attributes = f' class="{" ".join(classes)}"' if classes else ""
    if styles:
        attributes += f' style="{";".join(styles)}"'
    return f"<span{attributes}>"


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


def _number(text: str, default: int) -> int:
    return int(text) if text.isdigit() else default


def _byte_length(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
