"""Parts of the end-to-end benchmark (``python -m bench.e2e_bench``; see bench/README.md).

Each runnable part is its own process so that none shares a GIL with what it measures:
``bench.e2e.peer`` (the raw websocket CyTube stand-in), ``bench.e2e.bare`` (the bare Autobahn
client, the baseline) and ``bench.e2e.sink`` (a raw socket reader: the peer's own ceiling).
"""
