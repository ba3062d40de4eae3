"""rosey.records: slotted dataclasses that mypy treats as frozen."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import KW_ONLY, field
from typing import TYPE_CHECKING, Any

import pytest

from rosey.events import Event
from rosey.records import record


@record
class Point:
    x: int
    _: KW_ONLY
    label: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)


def test_a_record_is_a_slotted_dataclass_compared_and_hashed_by_its_fields() -> None:
    p = Point(1, label="a", meta={"k": 1})
    assert dataclasses.is_dataclass(p)
    assert not hasattr(p, "__dict__")
    assert p == Point(1, label="a", meta={"k": 1})
    assert p != Point(1, label="b")
    assert hash(p) == hash(Point(1, label="a", meta={"other": 2}))  # meta: hash=False
    assert dataclasses.replace(p, x=2) == Point(2, label="a", meta={"k": 1})


def test_fields_after_kw_only_cannot_be_given_by_position() -> None:
    with pytest.raises(TypeError):
        Point(1, "a")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Event("message", None, "alice", "hi")  # type: ignore[call-arg]


def test_records_are_frozen_to_the_type_checker() -> None:
    p = Point(1)
    event = Event("message", user="alice")
    # Never run: mypy must flag both lines, and warn_unused_ignores fails CI if it ever does not.
    if TYPE_CHECKING:
        p.x = 2  # type: ignore[misc]
        event.user = "bob"  # type: ignore[misc]
    assert p.x == 1
    assert event.user == "alice"
    assert event.extra == {}
