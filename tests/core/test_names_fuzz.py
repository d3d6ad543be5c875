"""Session names, fuzzed: every name the contract's grammar allows round-trips, nothing else passes.

The reference check below is written without regular expressions, straight from the contract:
``saga__<epic-slug>__<story-slug>__<suffix>``, slugs ``[a-z0-9]+([-_][a-z0-9]+)*`` and the
suffix ``[0-9]+`` over ASCII only, at most 200 characters in all.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from saga_jupyter.core.errors import InvalidSessionName
from saga_jupyter.core.saga.names import (
    is_saga_name,
    is_slug,
    name_from_output_file,
    output_path,
    parse_name,
)

FUZZ = settings(max_examples=300, deadline=None, derandomize=True)

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
DIGITS = "0123456789"
SEPARATORS = "-_"
OUTPUT_DIR = Path("/srv/saga-out")
# Characters a lenient pattern (\d, \w, IGNORECASE, "$", ".") would let in.
TRICKY = [
    "\n", "\r", "\x00", "/", "..", "\\", " ", "\t", "A", "Z", "_", "-", "__", "___", ".",
    "²", "١", "٣", "１", "９", "ａ", "ı", "ſ", "K", "é", "ß", "\u200b", "\u0301", "\U0001f600",
    "\udc80", "saga__", ".out", "%2e", "\x1b", "\x7f", "\u2028", "\x85",
]  # fmt: skip


def reference_slug(text: str) -> bool:
    """``[a-z0-9]+([-_][a-z0-9]+)*``: ASCII runs joined by single separators."""
    if not text or text[0] in SEPARATORS or text[-1] in SEPARATORS:
        return False
    after_separator = False
    for char in text:
        if char in SEPARATORS:
            if after_separator:
                return False
            after_separator = True
        elif char in ALNUM:
            after_separator = False
        else:
            return False
    return True


def reference_name(text: str) -> bool:
    """The contract's session name grammar, checked by hand."""
    if len(text) > 200:
        return False
    parts = text.split("__")  # a slug never holds "__", so the parts are exactly these
    if len(parts) != 4 or parts[0] != "saga":
        return False
    _, epic, story, suffix = parts
    return (
        reference_slug(epic)
        and reference_slug(story)
        and suffix != ""
        and all(char in DIGITS for char in suffix)
    )


slugs = st.builds(
    lambda head, rest: head + "".join(sep + run for sep, run in rest),
    st.text(ALNUM, min_size=1, max_size=12),
    st.lists(
        st.tuples(st.sampled_from(SEPARATORS), st.text(ALNUM, min_size=1, max_size=12)),
        max_size=4,
    ),
)
valid_names = st.builds(
    lambda epic, story, suffix: f"saga__{epic}__{story}__{suffix}",
    slugs,
    slugs,
    st.text(DIGITS, min_size=1, max_size=20),
).filter(lambda name: len(name) <= 200)


@st.composite
def near_misses(draw: st.DrawFn) -> str:
    """A valid name with a character or a string inserted, replaced or cut off somewhere."""
    name = draw(valid_names)
    index = draw(st.integers(0, len(name)))
    other = draw(st.sampled_from(TRICKY) | st.text(max_size=3))
    change = draw(st.sampled_from(["insert", "replace", "cut", "pad"]))
    if change == "insert":
        return name[:index] + other + name[index:]
    if change == "replace":
        return name[:index] + other + name[index + 1 :]
    if change == "cut":
        return name[:index]
    return name + "0" * draw(st.integers(0, 220))  # around the length limit


anything = (
    near_misses()
    | st.text()
    | st.lists(st.sampled_from([*ALNUM, *SEPARATORS, "saga", *TRICKY]), max_size=40).map("".join)
    | st.builds(lambda rest: "saga__" + rest, st.text())
    | st.text(min_size=150, max_size=400, alphabet=ALNUM + "_")
)


def check_valid(name: str) -> None:
    parsed = parse_name(name)
    assert parsed.name == name
    assert f"saga__{parsed.epic}__{parsed.story}__{parsed.suffix}" == name
    assert is_slug(parsed.epic) and is_slug(parsed.story)
    assert is_saga_name(name)
    path = output_path(OUTPUT_DIR, name)
    assert path.parent == OUTPUT_DIR and path.name == name + ".out"
    assert os.path.normpath(path) == str(path)  # nothing like ".." or "//" in it
    assert name_from_output_file(path.name) == name


def check_invalid(text: str) -> None:
    assert not is_saga_name(text)
    with pytest.raises(InvalidSessionName):
        parse_name(text)
    with pytest.raises(InvalidSessionName):
        output_path(OUTPUT_DIR, text)
    assert name_from_output_file(text + ".out") is None


@FUZZ
@given(valid_names)
@example("saga__" + "a" * 188 + "__b__1")  # exactly 200 characters
@example("saga__a-b_c__0__00")
def test_every_name_the_grammar_allows_round_trips(name: str) -> None:
    assert reference_name(name)
    check_valid(name)


@FUZZ
@given(anything)
@example("saga__a__b__1\n")
@example("saga__a__b__1\r\n")
@example("saga__a__b__²")
@example("saga__a__b__١")
@example("saga__a__b__١٢")
@example("saga__a__b__１")
@example("saga__ａ__b__1")
@example("saga__a\x00__b__1")
@example("saga__..__b__1")
@example("saga__a/..__b__1")
@example("saga__K__b__1")  # KELVIN SIGN: a case-insensitive [a-z] takes it for "k"
@example("saga__a__b__1" + "0" * 188)  # 201 characters
def test_nothing_but_the_grammar_is_accepted(text: str) -> None:
    if reference_name(text):
        check_valid(text)
    else:
        check_invalid(text)


@FUZZ
@given(anything.map(lambda text: text.split("__")[1] if "__" in text else text) | slugs)
@example("a\n")
@example("²")
@example("a--b")
@example("")
def test_slugs_follow_the_grammar(text: str) -> None:
    assert is_slug(text) == (reference_slug(text) and len(text) <= 200)


@FUZZ
@given(anything | valid_names.map(lambda name: name + ".out"))
@example("saga__a__b__1.out\n")
@example("saga__a__b__1.out.1")
@example("saga__a__b__1\n.out")
@example(".out")
def test_only_output_files_of_valid_names_map_to_a_name(filename: str) -> None:
    stem = filename[: -len(".out")] if filename.endswith(".out") else None
    expected = stem if stem is not None and reference_name(stem) else None
    assert name_from_output_file(filename) == expected
