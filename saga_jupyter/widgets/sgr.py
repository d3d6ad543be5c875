"""SGR styles: the colours and attributes terminal text is written in, and their ``<span>``.

``ESC[<params>m`` (Select Graphic Rendition) sets a :class:`Style`; :func:`open_tag` turns a
style into markup made only of our own classes (the 16 palette colours, so the page's theme
picks them) and ``#rrggbb`` values formatted here, never text from the log.
"""

from __future__ import annotations

from typing import NamedTuple

BOLD, DIM, ITALIC, UNDERLINE, INVERSE, STRIKE = 1, 2, 4, 8, 16, 32
FLAG_CLASSES = ((BOLD, "sj-bold"), (DIM, "sj-dim"), (ITALIC, "sj-italic"),
                (UNDERLINE, "sj-underline"), (STRIKE, "sj-strike"))  # fmt: skip
SGR_SET = {1: BOLD, 2: DIM, 3: ITALIC, 4: UNDERLINE, 21: UNDERLINE, 7: INVERSE, 9: STRIKE}
SGR_CLEAR = {22: BOLD | DIM, 23: ITALIC, 24: UNDERLINE, 27: INVERSE, 29: STRIKE}
# Logs repeat a handful of colour changes and styles: each is worked out once, but truecolor
# makes the kinds unbounded, so a cache that fills up starts again.
CACHE_SIZE = 4096
# A parameter has at most this many digits that count: any more only say "too big" (and
# int() refuses thousands of digits).
MAX_DIGITS = 9
TOO_BIG: int = 10**MAX_DIGITS

Color = int | str | None  # a palette index 0-15, a "#rrggbb", or the default colour


class Style(NamedTuple):
    """The SGR state text is written in."""

    fg: Color = None
    bg: Color = None
    flags: int = 0


DEFAULT = Style()
_STYLES: dict[tuple[Style, str], Style] = {}
_OPEN_TAGS: dict[Style, str] = {}


def style_after(style: Style, params: str) -> Style:
    """:func:`apply_sgr`, remembered."""
    key = (style, params)
    after = _STYLES.get(key)
    if after is None:
        if len(_STYLES) >= CACHE_SIZE:
            _STYLES.clear()
        after = _STYLES[key] = apply_sgr(style, params)
    return after


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
            code = number(parts[0], 0)
            if code in (38, 48):
                color = _extended_color(parts[1:], colon=True)
                fg, bg = (color, bg) if code == 38 else (fg, color)
            elif code == 4:
                flags = flags & ~UNDERLINE if parts[1:2] == ["0"] else flags | UNDERLINE
            continue
        code = number(field, 0)
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
            kind = number(fields[index], 0) if index < len(fields) else 0
            width = 2 if kind == 5 else 4 if kind == 2 else 1
            color = _extended_color(fields[index : index + width], colon=False)
            index += width
            fg, bg = (color, bg) if code == 38 else (fg, color)
    return Style(fg, bg, flags)


def _extended_color(parts: list[str], colon: bool) -> Color:
    """``5;n`` (256 colours) or ``2;r;g;b`` (``2:cs:r:g:b`` with colons); ``None`` if bad."""
    if not parts:
        return None
    kind = number(parts[0], -1)
    if kind == 5 and len(parts) >= 2:
        return palette_color(number(parts[1], -1))
    if kind == 2:
        rgb = parts[1:]
        if colon and len(rgb) >= 4:
            rgb = rgb[1:]  # the colour-space id
        if len(rgb) >= 3:
            values = [number(value, -1) for value in rgb[:3]]
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


def open_tag(style: Style) -> str:
    """The ``<span ...>`` for a style (``""`` for the default style)."""
    tag = _OPEN_TAGS.get(style)
    if tag is None:
        if len(_OPEN_TAGS) >= CACHE_SIZE:
            _OPEN_TAGS.clear()
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


def number(text: str, default: int) -> int:
    """A parameter's value (ASCII digits), or ``default``; a huge one is just too big.

    >>> number("0031", 0), number("", 0), number("²", 0), number("9" * 5000, 0) > 10**8
    (31, 0, 0, True)
    """
    if not (text.isascii() and text.isdigit()):
        return default
    digits = text.lstrip("0")
    if len(digits) > MAX_DIGITS:
        return TOO_BIG
    return int(digits or "0")
