"""The parts of the channel mirror: users, playlist, channel settings, and their values."""

from rosey.bot.state.channel import ChannelSettings
from rosey.bot.state.models import (
    ChatFilter,
    Emote,
    Malformed,
    Media,
    NowPlaying,
    PlaylistItem,
    PlaylistMeta,
    Poll,
    Profile,
    User,
    Voteskip,
)
from rosey.bot.state.playlist import Playlist
from rosey.bot.state.users import UserList

__all__ = [
    "ChannelSettings",
    "ChatFilter",
    "Emote",
    "Malformed",
    "Media",
    "NowPlaying",
    "Playlist",
    "PlaylistItem",
    "PlaylistMeta",
    "Poll",
    "Profile",
    "User",
    "UserList",
    "Voteskip",
]
