from __future__ import annotations

import pytest

from saga_jupyter.core.errors import InvalidSessionName
from saga_jupyter.core.saga.names import (
    is_saga_name,
    is_slug,
    name_from_output_file,
    output_path,
    parse_name,
)

MALFORMED = [
    "saga__a__b",
    "saga__a____1",
    "saga__A__b__1",
    "saga__../x__y__1",
    "saga__a/b__c__1",
    "saga__a__b__1/../../etc",
    "saga__a b__c__1",
    "saga__a__b__1\n",
    "saga__a__b\n__1",
    "saga__a__b__1\x00",
    "saga__a__b__x1",
    "saga__a__b__",
    "saga__-a__b__1",
    "saga__a-__b__1",
    "saga__a--b__c__1",
    "saga__a___b__c__1",
    "saga___a__b__1",
    "Saga__a__b__1",
    "xsaga__a__b__1",
    "saga__a__b__1 ",
    "saga__a__b__１",  # a full-width digit is not [0-9]
    "",
    "saga__" + "a" * 189 + "__b__1",  # 201 characters
]


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("saga__auth__login-form__4242", ("auth", "login-form", "4242")),
        ("saga__a__b__1", ("a", "b", "1")),
        ("saga__epic_1__story-2_x__1700000000", ("epic_1", "story-2_x", "1700000000")),
        ("saga__" + "a" * 188 + "__b__1", ("a" * 188, "b", "1")),  # exactly 200 characters
    ],
)
def test_valid_names_parse_to_epic_story_suffix(name: str, parts: tuple[str, str, str]) -> None:
    parsed = parse_name(name)
    assert (parsed.epic, parsed.story, parsed.suffix) == parts
    assert parsed.name == name
    assert is_saga_name(name)


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_names_are_rejected(name: str) -> None:
    assert not is_saga_name(name)
    with pytest.raises(InvalidSessionName):
        parse_name(name)
    with pytest.raises(InvalidSessionName):
        output_path("/tmp/out", name)
    assert name_from_output_file(name + ".out") is None


def test_non_strings_are_rejected() -> None:
    for value in (None, 12, b"saga__a__b__1", ["saga__a__b__1"]):
        assert not is_saga_name(value)


def test_output_path_stays_in_the_output_dir(tmp_path) -> None:
    path = output_path(tmp_path, "saga__e__s__12")
    assert path == tmp_path / "saga__e__s__12.out"
    assert path.parent == tmp_path


def test_output_files_map_back_to_names() -> None:
    assert name_from_output_file("saga__e__s__12.out") == "saga__e__s__12"
    assert name_from_output_file("saga__e__s__12.out.1") is None
    assert name_from_output_file("saga__e__s__12.log") is None
    assert name_from_output_file("notes.out") is None


def test_slugs() -> None:
    assert is_slug("login-form")
    assert is_slug("a_b-c")
    for bad in ("", "A", "a__b", "a/b", "-a", "a-", "a;b", "$(x)", "a\nb", "x" * 201):
        assert not is_slug(bad), bad


# Today's SAGA (v4): saga-story-<storyId>-<digits>, output <name>.jsonl.
V4_MALFORMED = [
    "saga-story-",
    "saga-story-1",  # no storyId before the digits
    "saga-story-abc",  # no digits
    "saga-story--abc-1",
    "saga-story-abc--1",
    "saga-story-abc-",
    "saga-story-ABC-1",
    "saga-story-a_b-1",
    "saga-story-abc-1\n",
    "saga-story-abc-1 ",
    "saga-story-a/b-1",
    "saga-story-../x-1",
    "saga-story-abc-" + "1" * 21,  # at most 20 digits
    "saga-story-abc-１",
    "saga-story-" + "a" * 188 + "-1",  # 201 characters
]


@pytest.mark.parametrize("name", V4_MALFORMED)
def test_v4_malformed_names_are_refused(name: str) -> None:
    assert not is_saga_name(name)
    with pytest.raises(InvalidSessionName):
        parse_name(name)
    assert name_from_output_file(name + ".jsonl") is None


@pytest.mark.parametrize(
    ("name", "story", "suffix"),
    [
        ("saga-story-auth-login-flow-1741165923", "auth-login-flow", "1741165923"),
        ("saga-story-auth-login-flow-1741165923123", "auth-login-flow", "1741165923123"),
        ("saga-story-fix-42-1741165923", "fix-42", "1741165923"),  # digits inside the storyId
        ("saga-story-7-1", "7", "1"),
        ("saga-story-x-" + "9" * 20, "x", "9" * 20),
    ],
)
def test_v4_names_split_at_the_last_digits(name: str, story: str, suffix: str) -> None:
    parts = parse_name(name)
    assert (parts.epic, parts.story, parts.suffix, parts.output_format) == (
        None,
        story,
        suffix,
        "messages",
    )
    assert is_saga_name(name)


def test_each_generation_has_its_own_output_file(tmp_path: object) -> None:
    assert output_path("/o", "saga-story-x-1").name == "saga-story-x-1.jsonl"
    assert output_path("/o", "saga__a__b__1").name == "saga__a__b__1.out"
    assert name_from_output_file("saga-story-x-1.jsonl") == "saga-story-x-1"
    assert name_from_output_file("saga__a__b__1.out") == "saga__a__b__1"
    # The other generation's suffix, the pane copy, and near misses are not output files.
    for filename in ("saga-story-x-1.out", "saga__a__b__1.jsonl", "saga-story-x-1.pane", ".jsonl"):
        assert name_from_output_file(filename) is None
