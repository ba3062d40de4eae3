"""The daemon: configuration, service assembly, and operator entry points."""
