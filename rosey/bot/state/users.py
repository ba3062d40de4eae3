"""Who is in the channel: the user list, the leader and the connection count."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rosey.bot.state.models import (
    Malformed,
    Profile,
    User,
    as_bool,
    as_dict,
    as_int,
    as_list,
    as_number,
    as_str,
    parse_profile,
    parse_user,
    user_with,
    user_with_meta,
)


class UserList:
    """The logged-in users as the server lists them, in the order it sent them.

    ``usercount`` counts every socket in the channel, anonymous viewers included, so it is
    usually larger than ``len(users)``; it is throttled by the server (at most one update per
    10 s) and None until the first one arrives.

    The ``on_*`` methods take one CyTube event's payload (the mirror routes them) and raise
    :class:`~rosey.bot.state.models.Malformed` before changing anything when it has the wrong
    shape.
    """

    def __init__(self) -> None:
        self._users: dict[str, User] = {}
        self._folded: dict[str, str] = {}  # casefolded name -> listed name
        self.leader: str | None = None
        self.usercount: int | None = None

    def reset(self) -> None:
        """Forget everything (a new session resends it all)."""
        self._users.clear()
        self._folded.clear()
        self.leader = None
        self.usercount = None

    # -- queries ------------------------------------------------------------------------------

    def get(self, name: str) -> User | None:
        """The user called ``name``; CyTube names are unique ignoring case."""
        user = self._users.get(name)
        if user is not None:
            return user
        listed = self._folded.get(name.casefold())
        return None if listed is None else self._users.get(listed)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[User]:
        return iter(tuple(self._users.values()))

    def __len__(self) -> int:
        return len(self._users)

    @property
    def names(self) -> tuple[str, ...]:
        """Every listed name, in list order."""
        return tuple(self._users)

    @property
    def anonymous_count(self) -> int | None:
        """Connected sockets that are not logged in (None before the first ``usercount``)."""
        if self.usercount is None:
            return None
        return max(0, self.usercount - len(self._users))

    # -- handlers -----------------------------------------------------------------------------

    def on_userlist(self, data: Any) -> None:
        users = [parse_user(u) for u in as_list(data, "userlist")]
        self._users = {u.name: u for u in users}
        self._folded = {u.name.casefold(): u.name for u in users}

    def on_add_user(self, data: Any) -> None:
        user = parse_user(data)
        old = self.get(user.name)
        if old is not None and old.name != user.name:
            del self._users[old.name]
        self._users[user.name] = user
        self._folded[user.name.casefold()] = user.name

    def on_user_leave(self, data: Any) -> None:
        name = as_str(as_dict(data, "userLeave").get("name"), "name")
        user = self.get(name)
        if user is not None:
            del self._users[user.name]
            self._folded.pop(user.name.casefold(), None)

    def on_set_user_rank(self, data: Any) -> tuple[str, float]:
        """Returns the name and rank it read (the mirror checks whether it is the bot's own)."""
        payload = as_dict(data, "setUserRank")
        name = as_str(payload.get("name"), "name")
        rank = float(as_number(payload.get("rank"), "rank"))
        self._update(name, rank=rank)  # offline targets (setChannelRank) are not listed
        return name, rank

    def on_set_afk(self, data: Any) -> None:
        payload = as_dict(data, "setAFK")
        name = as_str(payload.get("name"), "name")
        afk = as_bool(payload.get("afk"), "afk")
        user = self.get(name)
        if user is not None:
            meta = dict(user.meta)
            meta["afk"] = afk
            self._users[user.name] = user_with_meta(user, meta)

    def on_set_user_meta(self, data: Any) -> None:
        payload = as_dict(data, "setUserMeta")
        name = as_str(payload.get("name"), "name")
        meta = as_dict(payload.get("meta"), "meta")
        user = self.get(name)
        if user is not None:
            self._users[user.name] = user_with_meta(user, meta)

    def on_set_user_profile(self, data: Any) -> None:
        payload = as_dict(data, "setUserProfile")
        name = as_str(payload.get("name"), "name")
        self._update(name, profile=parse_profile(payload.get("profile")))

    def on_set_leader(self, data: Any) -> None:
        name = as_str(data, "setLeader")
        self.leader = name or None

    def on_usercount(self, data: Any) -> None:
        count = as_int(data, "usercount")
        if count < 0:
            raise Malformed("usercount is negative")
        self.usercount = count

    def _update(
        self, name: str, *, rank: float | None = None, profile: Profile | None = None
    ) -> None:
        user = self.get(name)
        if user is not None:
            self._users[user.name] = user_with(user, rank=rank, profile=profile)
