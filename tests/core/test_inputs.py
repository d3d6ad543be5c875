"""Client numbers and JSON: exactly ASCII digits within 64 bits, and bounded depth (hypothesis)."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saga_jupyter.core.errors import InvalidRequest
from saga_jupyter.core.inputs import (
    MAX_JSON_DEPTH,
    MAX_NUMBER,
    check_number,
    load_json,
    nesting,
    parse_number,
)

FUZZ = settings(max_examples=300, deadline=None, derandomize=True)


@FUZZ
@given(st.integers(0, MAX_NUMBER), st.integers(0, 3))
def test_every_number_in_range_round_trips(number: int, zeros: int) -> None:
    assert parse_number("0" * zeros + str(number), "n") == number
    assert check_number(number, "n") == number


@FUZZ
@given(st.text(max_size=30) | st.text(string.digits + " +-_.e", max_size=25))
def test_anything_else_is_refused_and_nothing_else_is_raised(text: str) -> None:
    valid = text.isascii() and text.isdigit() and int(text) <= MAX_NUMBER
    if valid:
        assert parse_number(text, "n") == int(text)
    else:
        with pytest.raises(InvalidRequest, match="n must be ASCII digits"):
            parse_number(text, "n")


def test_leading_zeros_do_not_count() -> None:
    assert parse_number("0" * 5000 + "42", "n") == 42
    assert parse_number("0" * 5000, "n") == 0


@pytest.mark.parametrize(
    "value", [-1, MAX_NUMBER + 1, 1 << 64, True, False, 1.0, "1", None, [1], {"n": 1}]
)
def test_json_numbers_must_be_ints_in_range(value: Any) -> None:
    with pytest.raises(InvalidRequest):
        check_number(value, "offset")


def nested(depth: int) -> Any:
    value: Any = 0
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("depth", [0, 1, 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_json_up_to_the_depth_limit_loads(depth: int) -> None:
    value = nested(depth)
    assert nesting(value) == depth
    assert load_json(json.dumps(value), "frame") == value


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(nested(MAX_JSON_DEPTH + 1)),
        "[" * 100_000 + "]" * 100_000,  # json.loads' own limit: RecursionError
        "[" * 100_000,
        '{"a":' * 100_000,
    ],
)
def test_json_nested_deeper_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="nested deeper"):
        load_json(text, "frame")


@pytest.mark.parametrize(
    "document",
    [
        '{"cwd": "~\\ud800"}',  # a lone high surrogate, written as JSON allows
        '["\\udc80"]',
        '{"\\udfff": 1}',
        b'["\xed\xa0\x80"]',  # UTF-8 bytes of a surrogate: json.loads decodes with surrogatepass
    ],
)
def test_lone_surrogates_are_refused(document: str | bytes) -> None:
    with pytest.raises(InvalidRequest, match="lone surrogate"):
        load_json(document, "body")


def test_surrogate_pairs_are_characters() -> None:
    assert load_json('["\\ud83d\\ude00"]', "body") == ["😀"]


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_document_loads_or_is_refused(document: bytes | str) -> None:
    try:
        value = load_json(document, "body")
    except InvalidRequest as error:
        assert str(error).startswith("body ")
    else:
        assert nesting(value) <= MAX_JSON_DEPTH
