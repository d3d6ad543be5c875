"""ANSI to HTML: styles become spans, other sequences go, `\r` is resolved, all is escaped."""

from __future__ import annotations

import random
import re

import pytest

from saga_jupyter.widgets.ansi import MAX_HELD_CHARS, AnsiRenderer, Line, render
from saga_jupyter.widgets.sgr import BOLD, UNDERLINE, Style, apply_sgr, palette_color

# The only markup ansi.py may produce: spans with our classes and #rrggbb colours, and text
# holding no '<', '>' or unescaped '&'.
SAFE_HTML = re.compile(
    r'(?:<span(?: class="[a-z0-9 -]+")?'
    r'(?: style="(?:(?:color|background-color):#[0-9a-f]{6};?)+")?>'
    r"|</span>|[^<>&]|&(?:amp|lt|gt);)*"
)


def html(text: str) -> list[str]:
    lines = render(text)
    for line in lines:
        assert SAFE_HTML.fullmatch(line.html), line.html
    return [line.html for line in lines]


def texts(text: str) -> list[str]:
    return [line.text for line in render(text)]


def test_plain_text_is_unchanged() -> None:
    assert html("hello world\nsecond line\n") == ["hello world", "second line"]
    assert html("no newline at the end") == ["no newline at the end"]
    assert html("a\n\nb\n") == ["a", "", "b"]


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '"><svg onload=alert(1)>',
        "&lt; already escaped & raw",
    ],
)
def test_everything_is_escaped(text: str) -> None:
    (line,) = html(text)
    assert "<" not in line and ">" not in line
    assert line == text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    (coloured,) = html(f"\x1b[1;31m{text}\x1b[0m")
    assert coloured.startswith('<span class="sj-f1 sj-bold">') and "<script" not in coloured


def test_odd_sgr_parameters_cannot_inject_markup() -> None:
    for text in ["\x1b[38;5;<>m x", "\x1b[38;2;<;>;9m x", "\x1b[<31m x", "\x1b[38:2:<:1:2:3m x"]:
        assert "<" not in html(text)[0].replace("<span", "").replace("</span", "")


def test_sixteen_colours_are_palette_classes() -> None:
    assert html("\x1b[31mred\x1b[0m plain") == ['<span class="sj-f1">red</span> plain']
    assert html("\x1b[92;44mx") == ['<span class="sj-f10 sj-b4">x</span>']
    assert html("\x1b[97;101mx") == ['<span class="sj-f15 sj-b9">x</span>']
    assert html("\x1b[31mr\x1b[39md\x1b[41mb\x1b[49me") == [
        '<span class="sj-f1">r</span>d<span class="sj-b1">b</span>e'
    ]


def test_256_colours() -> None:
    assert html("\x1b[38;5;1mx") == ['<span class="sj-f1">x</span>']
    assert html("\x1b[38;5;208mx") == ['<span style="color:#ff8700">x</span>']
    assert html("\x1b[48;5;16mx") == ['<span style="background-color:#000000">x</span>']
    assert html("\x1b[38;5;255mx") == ['<span style="color:#eeeeee">x</span>']
    assert [palette_color(i) for i in (15, 16, 21, 231, 232, 256)] == [
        15,
        "#000000",
        "#0000ff",
        "#ffffff",
        "#080808",
        None,
    ]


def test_truecolor_both_syntaxes() -> None:
    expected = ['<span style="color:#ff800a;background-color:#000102">x</span>']
    assert html("\x1b[38;2;255;128;10;48;2;0;1;2mx") == expected
    assert html("\x1b[38:2::255:128:10m\x1b[48:2::0:1:2mx") == expected
    assert html("\x1b[38;2;300;0;0mx") == ["x"]  # out of range: ignored


def test_text_styles_and_their_resets() -> None:
    assert html("\x1b[1mb\x1b[22m \x1b[2md\x1b[22m \x1b[3mi\x1b[23m \x1b[4mu\x1b[24m \x1b[9ms") == [
        '<span class="sj-bold">b</span> <span class="sj-dim">d</span> '
        '<span class="sj-italic">i</span> <span class="sj-underline">u</span> '
        '<span class="sj-strike">s</span>'
    ]
    assert html("\x1b[1;3;4;32mall\x1b[mnone") == [
        '<span class="sj-f2 sj-bold sj-italic sj-underline">all</span>none'
    ]


def test_inverse_swaps_colours() -> None:
    assert html("\x1b[7mx") == ['<span class="sj-f-inverse sj-b-inverse">x</span>']
    assert html("\x1b[31;7mx\x1b[27my") == [
        '<span class="sj-f-inverse sj-b1">x</span><span class="sj-f1">y</span>'
    ]


def test_style_carries_over_lines() -> None:
    assert html("\x1b[33mone\ntwo\x1b[0m\nthree") == [
        '<span class="sj-f3">one</span>',
        '<span class="sj-f3">two</span>',
        "three",
    ]


@pytest.mark.parametrize(
    "sequence",
    [
        "\x1b[2A",  # cursor up
        "\x1b[10;20H",  # cursor position
        "\x1b[2J",  # erase display
        "\x1b[?25l",  # hide cursor
        "\x1b]0;window title\x07",  # OSC title, BEL
        "\x1b]8;;https://example.com\x1b\\",  # OSC 8 hyperlink, ST
        "\x1bP+q544e\x1b\\",  # DCS
        "\x1b(B",  # charset
        "\x1b=",  # keypad mode
        "\x1b7",  # save cursor
        "\x07\x00\x0e\x7f\x9b",  # BEL, NUL, SO, DEL, C1 CSI
    ],
)
def test_other_sequences_are_dropped(sequence: str) -> None:
    assert texts(f"a{sequence}b\n") == ["ab"]


def test_osc_hyperlink_keeps_its_text() -> None:
    text = "see \x1b]8;;https://x.org/?a=1&b=2\x1b\\the docs\x1b]8;;\x1b\\ now\n"
    assert html(text) == ["see the docs now"]


def test_an_unterminated_osc_does_not_swallow_lines() -> None:
    assert texts("a\x1b]0;title never ended\nb\nc\n") == ["a", "b", "c"]


def test_carriage_return_shows_the_final_state() -> None:
    bar = "".join(f"\r[{'#' * k}{'.' * (10 - k)}] {k * 10}%" for k in range(11))
    assert texts(bar + "\n") == ["[##########] 100%"]
    assert texts("abcdef\rXY\n") == ["XYcdef"]  # a terminal overwrites, it does not erase
    assert texts("line\r\n") == ["line"]
    assert texts("50%\r\x1b[Kdone\n") == ["done"]  # erase to end of line
    assert texts("abcdef\r\x1b[2KXY\n") == ["XY"]
    assert texts("abc\x1b[1Gz\n") == ["zbc"]  # column 1


def test_overwrite_keeps_the_styles_of_what_is_left() -> None:
    assert html("\x1b[31mredred\x1b[0m\rok\n") == ['ok<span class="sj-f1">dred</span>']
    assert html("abcdef\r\x1b[32mXY\x1b[0m\n") == ['<span class="sj-f2">XY</span>cdef']
    assert html("ab\rabcd\n") == ["abcd"]


def test_backspace_and_tab() -> None:
    assert texts("abc\bd\n") == ["abd"]
    assert texts("\b\bx\n") == ["x"]
    assert texts("a\tb\n12345678\tc\n") == ["a       b", "12345678        c"]


def test_chunks_split_anywhere_render_like_the_whole() -> None:
    text = (
        "start \x1b[1;38;2;1;2;3mbold\x1b[0m caf\u00e9 \u2603\n"
        "\x1b]8;;https://e.org\x1b\\link\x1b]8;;\x1b\\ 10%\r20%\r\x1b[K100%\n"
        "<b>&amp;</b>\x1b[38:5:208mx\x1b(B\x1b[m\r\n"
        "tail without newline"
    )
    whole = render(text)
    for cut in range(len(text) + 1):
        renderer = AnsiRenderer()
        lines = renderer.feed(text[:cut]) + renderer.feed(text[cut:]) + renderer.flush()
        assert lines == whole, cut
    generator = random.Random(7)
    for _ in range(200):
        cuts = sorted(generator.sample(range(1, len(text)), 6))
        renderer = AnsiRenderer()
        lines = []
        for begin, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
            lines += renderer.feed(text[begin:end])
        assert lines + renderer.flush() == whole


def test_the_open_line_shows_the_progress_so_far() -> None:
    renderer = AnsiRenderer()
    assert renderer.feed("build 10%\r") == [] and renderer.open_line == Line(
        "build 10%", "build 10%", 0
    )
    renderer.feed("build 55%\r")
    assert renderer.open_line is not None and renderer.open_line.text == "build 55%"
    renderer.feed("\x1b[3")  # a sequence cut short is held, not shown
    assert renderer.open_line.text == "build 55%"
    assert renderer.feed("2mbuild 100%\x1b[0m\nnext") == [
        Line('<span class="sj-f2">build 100%</span>', "build 100%", 0)
    ]
    assert renderer.open_line == Line("next", "next", 40)


def test_lines_know_their_byte_offsets() -> None:
    text = "caf\u00e9\n\x1b[31m\u2603\x1b[0m\n\nend"
    starts = [line.start for line in render(text)]
    data = text.encode()
    assert starts == [0, data.index(b"\x1b"), data.index(b"\n\nend") + 1, data.index(b"end")]
    renderer = AnsiRenderer(offset=1000)
    assert [line.start for line in renderer.feed("a\nb\n")] == [1000, 1002]
    # U+FFFD stands for 1 to 3 invalid bytes: the caller's end offset corrects the count.
    renderer = AnsiRenderer()
    renderer.feed("\ufffd\n", end_offset=2)
    assert renderer.feed("x\n")[0].start == 2


def test_long_lines_wrap() -> None:
    renderer = AnsiRenderer(max_line_chars=10)
    lines = renderer.feed("\u00e9" * 25 + "\n")
    assert [line.text for line in lines] == ["\u00e9" * 10, "\u00e9" * 10, "\u00e9" * 5]
    assert [line.start for line in lines] == [0, 20, 40]


def test_a_runaway_sequence_is_not_held_forever() -> None:
    renderer = AnsiRenderer()
    runaway = "a\x1b]0;" + "x" * 10_000
    renderer.feed(runaway)
    assert len(renderer._held) < 10  # what it keeps of the sequence is bounded
    # The sequence goes on to its end (a newline aborts it), as when read in one piece.
    assert renderer.feed("b\nc\n") == [Line("a", "a", 0), Line("c", "c", len(runaway) + 2)]
    assert render(runaway + "b\nc\n") == [Line("a", "a", 0), Line("c", "c", len(runaway) + 2)]


@pytest.mark.parametrize("length", [MAX_HELD_CHARS, MAX_HELD_CHARS + 1, 10_000])
def test_a_sequence_longer_than_the_limit_is_dropped_whole(length: int) -> None:
    sgr = "\x1b[" + "0" * (length - 7) + "1;31m"  # bold red, "length" characters long
    assert len(sgr) == length
    expected = ["red"] if length > MAX_HELD_CHARS else ['<span class="sj-f1 sj-bold">red</span>']
    assert html(f"{sgr}red\n") == expected
    for cut in (1, 2, 100, MAX_HELD_CHARS - 1, MAX_HELD_CHARS, MAX_HELD_CHARS + 1, len(sgr) - 1):
        renderer = AnsiRenderer()
        lines = renderer.feed(sgr[:cut]) + renderer.feed(sgr[cut:] + "red\n")
        assert [line.html for line in lines] == expected, cut


def test_apply_sgr() -> None:
    bold_red = apply_sgr(Style(), "1;31")
    assert bold_red == Style(fg=1, bg=None, flags=BOLD)
    assert apply_sgr(bold_red, "0") == apply_sgr(bold_red, "") == Style()
    assert apply_sgr(bold_red, "38;5") == bold_red._replace(fg=None)  # cut short: no colour
    assert apply_sgr(Style(), "4:0;4:3") == Style(flags=UNDERLINE)
