"""rosey: a chat bot daemon for CyTube channels, built on Twisted."""

__version__ = "0.2.0"
