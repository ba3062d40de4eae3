"""The bot: everything above the wire.

It consumes normalized :class:`rosey.events.Event` objects from an
:class:`~rosey.interfaces.IConnection` and never touches sockets or SQL itself.
:mod:`rosey.bot.dispatch` hands each event to its handlers; :mod:`rosey.bot.mirror` keeps an
exact copy of the channel as the server describes it (parts in :mod:`rosey.bot.state`);
:mod:`rosey.bot.permissions` decides locally what CyTube would allow, or kick the bot for;
:mod:`rosey.bot.medialink` turns media URLs into the ``{type, id}`` pairs ``queue`` takes; the
command layer, the send queue and :mod:`rosey.bot.ratelimit` pace what the bot says.
"""
