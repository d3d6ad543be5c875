"""ANSI rendering, fuzzed: the same text renders the same however reads split it into chunks."""

from __future__ import annotations

import itertools

from hypothesis import example, given, settings
from hypothesis import strategies as st

from saga_jupyter.widgets.ansi import MAX_HELD_CHARS, AnsiRenderer, Line
from tests.widgets.test_ansi import SAFE_HTML

FUZZ = settings(max_examples=200, deadline=None, derandomize=True)

params = st.lists(
    st.sampled_from(["0", "1", "2", "4", "7", "22", "27", "31", "39", "42", "38", "48", "5",
                     "2", "208", "255", "300", "", "4:3", "38:2::1:2:3", "?25", "<"]),
    max_size=8,
).map(";".join)  # fmt: skip
# Lengths around the longest sequence held open for the next chunk.
long_lengths = st.integers(MAX_HELD_CHARS - 8, MAX_HELD_CHARS + 8) | st.integers(1, 9000)


@st.composite
def long_sequences(draw: st.DrawFn) -> str:
    """A CSI or string sequence (terminated or not) of about the held limit or longer."""
    length = draw(long_lengths)
    kind = draw(st.sampled_from(["sgr", "csi", "osc", "osc-st", "open-osc", "esc"]))
    if kind == "sgr":
        return "\x1b[" + ("1;" * length)[:length] + "31m"
    if kind == "csi":
        return "\x1b[" + "9" * length + draw(st.sampled_from(["", " ", "K", "G", "!p"]))
    if kind == "esc":
        return "\x1b" + " " * length + draw(st.sampled_from(["", "B", "\x1b"]))
    body = "\x1b]8;;https://e.org/" + "x" * length
    return body + {"osc": "\x07", "osc-st": "\x1b\\", "open-osc": ""}[kind]


pieces = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["\n", "\r", "\r\n", "\b", "\t", "<b>&amp;", "é", "😀", "\x00", "\x7f",
                     "\x9b", "\x1b", "\x1b[", "\x1b]", "\x1b(", "\x1b\\", "\x07", "\x1b[K",
                     "\x1b[2K", "\x1b[1K", "\x1b[5G", "\x1b[0m", "\x1b[?25l", "50%\r"]),
    params.map(lambda p: f"\x1b[{p}m"),
    long_sequences(),
)  # fmt: skip
texts = st.lists(pieces, max_size=30).map("".join)


def render_in_chunks(
    text: str, cuts: list[int], max_line_chars: int, offsets: bool = False
) -> tuple[list[Line], ...]:
    """The completed lines, the open line before the end, and the lines the end completes.

    With ``offsets``, each chunk comes with its end offset, as the log viewer feeds them.
    """
    renderer = AnsiRenderer(max_line_chars=max_line_chars)
    lines: list[Line] = []
    bounds = [0, *sorted(cuts), len(text)]
    for begin, end in itertools.pairwise(bounds):
        end_offset = len(text[:end].encode("utf-8", "surrogatepass")) if offsets else None
        lines += renderer.feed(text[begin:end], end_offset)
    open_line = [renderer.open_line] if renderer.open_line else []
    return lines, open_line, renderer.flush()


@st.composite
def split_texts(draw: st.DrawFn) -> tuple[str, list[int], int]:
    text = draw(texts)
    cuts = draw(st.lists(st.integers(0, len(text)), max_size=12))
    return text, cuts, draw(st.sampled_from([4096, 4096, 10, 80]))


@FUZZ
@given(split_texts())
@example(("a\x1b]0;" + "x" * 5000 + "\x07b\n", [3000], 4096))  # a long OSC read in two
@example(("\x1b[" + "1;" * 2100 + "31mred\n", [2000], 4096))  # a long SGR read in two
@example(("\x1b[" + "1;" * 2100 + "31mred\n", [4000, 4100], 4096))
@example(("\x1b[31mabcd\rXY\n", [11], 4096))  # an overwrite in two writes
@example(("\x1b[" + "9" * 4400 + "K", [], 4096))  # more digits than int() takes
def test_the_same_text_renders_the_same_however_split(case: tuple[str, list[int], int]) -> None:
    text, cuts, max_line_chars = case
    whole = render_in_chunks(text, [], max_line_chars)
    assert render_in_chunks(text, cuts, max_line_chars) == whole
    assert render_in_chunks(text, cuts, max_line_chars, offsets=True) == whole
    for line in itertools.chain(*whole):
        assert SAFE_HTML.fullmatch(line.html), line.html
