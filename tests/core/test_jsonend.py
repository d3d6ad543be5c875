"""Finding JSON objects in a growing text: as parsing at every candidate does, in linear time."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from saga_jupyter.core.saga.jsonend import OPENING, ObjectEnds

MAX_SIZE, MAX_DEPTH = 40, 3  # the result piece is longer: never handed over
PIECES = st.sampled_from(
    ["{\n", "}\n", "{", "}", "[", "]", "\n", '"', "\\", '\\"', "x", "1", ",", ":", '"k": ', " ",
     '{\n  "status": "FINISH",\n  "n": [1, {"a": "}"}]\n}\n', "\t", "\x01", '"\n"',
     '{\n"d": [[1]]\n}\n', '{\n"d": [[[1]]]\n}\n', "x" * 30,
     '{\n"k": 1}', '{\n"s": "' + "y" * 20 + '"\n}\n']
)  # fmt: skip


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def expected_objects(text: str) -> list[str]:
    """Every object a "{" line starts and a "}" starting a line ends, found by parsing at each."""
    found = []
    decoder = json.JSONDecoder()
    for start in range(len(text)):
        if (start and text[start - 1] != "\n") or not OPENING.match(text, start):
            continue
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            continue
        if text[end - 2] == "\n" and end - start <= MAX_SIZE and depth(value) <= MAX_DEPTH:
            found.append(text[start:end])
    return found


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@settings(max_examples=600, derandomize=True, deadline=None)
@given(st.lists(PIECES, max_size=60), st.lists(st.integers(0, 1000), max_size=8))
def test_the_objects_found_are_those_parsing_at_every_candidate_finds(
    pieces: list[str], cuts: list[int]
) -> None:
    text = "".join(pieces)
    ends = ObjectEnds(max_size=MAX_SIZE, max_depth=MAX_DEPTH)
    found: list[str] = []
    at = 0
    for cut in sorted(cut % (len(text) + 1) for cut in cuts):
        found += ends.feed(text[at:cut])
        at = cut
    found += ends.feed(text[at:])
    assert sorted(filter(is_json, found)) == sorted(expected_objects(text))
    assert sum(map(len, found)) <= MAX_DEPTH * len(text)  # each character in few candidates
