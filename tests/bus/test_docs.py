"""docs/bus.md's payload examples follow the schema rosey publishes."""

from __future__ import annotations

import json
import re

from rosey import events
from rosey.bus.payload import body
from rosey.bus.subjects import channel_token, event_suffix
from tests.daemon.test_twistd import REPO

DOC = (REPO / "docs" / "bus.md").read_text(encoding="utf-8")


def examples() -> list[dict[str, object]]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC, re.S)]


def test_every_example_has_the_schemas_fields_and_subject() -> None:
    fields = set(body(events.Event("x"), "a/b", "id", 0.0))
    found = examples()
    assert len(found) >= 8
    for example in found:
        assert set(example) == fields
        assert example["event"] == event_suffix(str(example["name"]))
    assert {e["event"] for e in found} >= {
        "chat.message",
        "pm",
        "user.joined",
        "user.left",
        "media.changed",
        "usercount",
    }


def test_the_token_examples_are_right() -> None:
    for label in ("cytu.be/mychannel", "example.org:8443/my_chan"):
        assert f"`{label}` → `{channel_token(label)}`" in DOC.replace("\n", " ")


def test_every_command_is_documented() -> None:
    from rosey.bus.commands import ACTIONS

    section = DOC.split("## Commands in", 1)[1].split("\n## ", 1)[0]
    for action in ACTIONS:
        assert f"`{action}`" in section, action
