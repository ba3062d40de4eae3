"""The status page: one page per channel and an index, a JSON API under ``/api/`` and a live
feed (server-sent events), read-only, served by twisted.web in the daemon (``[web]``).

Everything shown comes from the bots' mirrors (who is here, what plays) and the storage's read
API (history); this package holds no SQL. docs/web.md documents the URLs and the API.
"""
