"""The server-to-client event names CyTube 3.86 sends (protocol notes §6, www/js/callbacks.js).

Every event is delivered whatever its name; a name outside this set is logged once, because it
usually means a newer server or a typo in a test peer.
"""

from __future__ import annotations

__all__ = ["SERVER_EVENTS"]

SERVER_EVENTS: frozenset[str] = frozenset(
    {
        # session, users, presence
        "rank", "login", "userlist", "addUser", "userLeave", "usercount", "setUserRank",
        "setLeader", "setUserMeta", "setAFK", "setUserProfile", "setUserIcon",
        "clearVoteskipVote", "needPassword", "cancelNeedPassword", "channelNotRegistered",
        "announcement", "kick", "errorMsg", "errMessage", "costanza", "partitionChange",
        "partitionMapChange",
        # chat
        "chatMsg", "pm", "clearchat", "cooldown", "noflood", "spamFiltered",
        # playlist and playback
        "playlist", "setPlaylistMeta", "queue", "delete", "moveVideo", "setTemp", "setCurrent",
        "setPlaylistLocked", "changeMedia", "mediaUpdate", "voteskip", "queueFail", "queueWarn",
        "searchResults", "listPlaylists", "drinkCount",
        # channel state and administration
        "setMotd", "channelCSSJS", "channelOpts", "setPermissions", "emoteList", "updateEmote",
        "renameEmote", "removeEmote", "chatFilters", "updateChatFilter", "deleteChatFilter",
        "addFilterSuccess", "newPoll", "updatePoll", "closePoll", "banlist", "banlistRemove",
        "channelRanks", "channelRankFail", "readChanLog", "warnLargeChandump",
        "validationError", "validationPassed",
        # site administration (global rank 255)
        "acp-announce", "acp-announce-clear", "acp-gban", "acp-gban-delete", "acp-list-users",
        "acp-set-rank", "acp-reset-password", "acp-list-channels", "acp-delete-channel",
        "acp-list-activechannels", "acp-force-unload",
    }
)  # fmt: skip
