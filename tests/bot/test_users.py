"""The user list finds users by name ignoring case, through joins, leaves and reloads."""

from rosey.bot.mirror import ChannelMirror
from rosey.events import Event


def user(name: str, rank: float = 1) -> dict:
    return {
        "name": name,
        "rank": rank,
        "profile": {"image": "", "text": ""},
        "meta": {"afk": False, "muted": False},
    }


def test_lookup_ignores_case_and_follows_joins_leaves_and_reloads() -> None:
    mirror = ChannelMirror()
    mirror.apply(Event("user_list", [user("Alice"), user("bob")]))
    assert mirror.users.get("alice") is not None
    assert mirror.users.get("BOB") is not None
    mirror.apply(Event("user_join", user("Carol", 2)))
    carol = mirror.users.get("carol")
    assert carol is not None
    assert carol.name == "Carol"
    assert carol.rank == 2
    mirror.apply(Event("user_leave", {"name": "ALICE"}))
    assert mirror.users.get("alice") is None
    mirror.apply(Event("user_list", [user("dave")]))
    assert mirror.users.get("bob") is None
    assert mirror.users.get("Dave") is not None
    mirror.apply(Event("connected"))
    assert mirror.users.get("dave") is None
