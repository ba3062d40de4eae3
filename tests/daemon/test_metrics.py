"""Metrics and health: the registry's content, the health rules, and the real HTTP endpoint."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
import pytest_twisted
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import rosey
from rosey.daemon.config import parse
from rosey.daemon.metrics import MAX_LABEL_VALUES, OTHER, Metrics
from rosey.daemon.web import make_metrics_service, when_listening

CH = "cytu.be/mychannel"


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the registry, parsed back from the text exposition."""
    out = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def test_event_counters_carry_channel_and_event_labels() -> None:
    m = Metrics()
    for _ in range(3):
        m.event_in(CH, "message")
    m.event_in("other.site/x", "message")
    m.event_in(CH, "user_join")
    m.event_out(CH, "chatMsg")
    got = samples(m)
    assert got["rosey_events_in_total", (("channel", CH), ("event", "message"))] == 3
    assert got["rosey_events_in_total", (("channel", "other.site/x"), ("event", "message"))] == 1
    assert got["rosey_events_in_total", (("channel", CH), ("event", "user_join"))] == 1
    assert got["rosey_events_out_total", (("channel", CH), ("event", "chatMsg"))] == 1


def test_reconnects_kicks_waits_and_storage_batches() -> None:
    m = Metrics()
    m.reconnect(CH)
    m.reconnect(CH)
    m.kick(CH, "kicked")
    m.send_wait(CH, 0.3)
    m.storage_batch(40, 0.02)
    m.storage_batch(3, 0.001)
    got = samples(m)
    assert got["rosey_reconnects_total", (("channel", CH),)] == 2
    assert got["rosey_kicks_total", (("channel", CH), ("reason", "kicked"))] == 1
    assert got["rosey_send_wait_seconds_bucket", (("channel", CH), ("le", "0.25"))] == 0
    assert got["rosey_send_wait_seconds_bucket", (("channel", CH), ("le", "0.5"))] == 1
    assert got["rosey_storage_batch_size_sum", ()] == 43
    assert got["rosey_storage_batch_size_count", ()] == 2
    assert got["rosey_storage_batch_size_bucket", (("le", "25.0"),)] == 1
    assert got["rosey_storage_batch_seconds_count", ()] == 2


def test_sampled_gauges_follow_their_callbacks() -> None:
    m = Metrics()
    state: dict[str, Any] = {"users": 7, "depth": 0, "joined": True, "age": None}
    m.observe_channel(
        CH,
        lambda: state["users"],
        lambda: state["depth"],
        lambda: state["joined"],
        lambda: state["age"],
    )
    m.observe_storage(lambda: 2.5)
    got = samples(m)
    assert got["rosey_channel_users", (("channel", CH),)] == 7
    assert got["rosey_send_queue_depth", (("channel", CH),)] == 0
    assert got["rosey_channel_joined", (("channel", CH),)] == 1
    assert ("rosey_channel_last_event_age_seconds", (("channel", CH),)) not in got
    assert got["rosey_storage_last_write_age_seconds", ()] == 2.5
    state.update(users=9, depth=4, joined=False, age=1.25)
    got = samples(m)
    assert got["rosey_channel_users", (("channel", CH),)] == 9
    assert got["rosey_send_queue_depth", (("channel", CH),)] == 4
    assert got["rosey_channel_joined", (("channel", CH),)] == 0
    assert got["rosey_channel_last_event_age_seconds", (("channel", CH),)] == 1.25


def test_network_supplied_labels_are_capped_per_channel() -> None:
    m = Metrics()
    for i in range(MAX_LABEL_VALUES + 50):
        m.event_in(CH, f"hostile{i}")
    m.event_in(CH, "hostile0")  # admitted earlier: keeps its own series
    m.event_in("cytu.be/second", "message")  # another channel has its own budget
    in_series = {k: v for k, v in samples(m).items() if k[0] == "rosey_events_in_total"}
    ours = {
        dict(labels)["event"]: v
        for (_, labels), v in in_series.items()
        if dict(labels)["channel"] == CH
    }
    assert len(ours) == MAX_LABEL_VALUES + 1
    assert ours[OTHER] == 50
    assert ours["hostile0"] == 2
    assert sum(ours.values()) == MAX_LABEL_VALUES + 51
    assert (
        in_series["rosey_events_in_total", (("channel", "cytu.be/second"), ("event", "message"))]
        == 1
    )


def test_each_daemon_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.event_in(CH, "message")
    assert ("rosey_events_in_total", (("channel", CH), ("event", "message"))) not in samples(b)


def test_health_needs_every_channel_joined_and_storage_keeping_up() -> None:
    m = Metrics()
    assert m.health(60).ok  # nothing observed yet
    joined = {"a": True, "b": True}
    m.observe_channel("s/a", lambda: 1, lambda: 0, lambda: joined["a"], lambda: 3.0)
    m.observe_channel(
        "s/b", lambda: 1, lambda: 0, lambda: joined["b"], lambda: None, state=lambda: "joined"
    )
    storage: dict[str, Any] = {"age": 5.0, "pending": 10}
    m.observe_storage(lambda: storage["age"], lambda: storage["pending"])
    health = m.health(60)
    assert health.ok
    assert health.as_json() == {
        "status": "ok",
        "version": rosey.__version__,
        "channels": {
            "s/a": {"joined": True, "state": None, "last_event_age_s": 3.0},
            "s/b": {"joined": True, "state": "joined", "last_event_age_s": None},
        },
        "storage": {"ok": True, "last_write_age_s": 5.0, "pending": 10},
    }
    joined["b"] = False
    assert not m.health(60).ok
    joined["b"] = True
    storage["age"] = 61.0  # rows waiting and no write for too long
    assert not m.health(60).ok
    assert not m.health(60).storage.ok  # type: ignore[union-attr]
    storage["pending"] = 0  # quiet, nothing to write: fine however old the last write is
    assert m.health(60).ok


def test_a_failing_probe_is_unhealthy_and_logged_once(
    capture_log: Callable[[], list[dict[str, Any]]],
) -> None:
    m = Metrics()

    def broken() -> bool:
        raise RuntimeError("probe exploded")

    m.observe_channel(CH, lambda: 1, lambda: 0, broken, lambda: None)
    events = capture_log()
    assert not m.health(60).ok
    assert not m.health(60).ok
    samples(m)  # a scrape skips the broken gauge instead of failing
    failures = [e for e in events if "log_failure" in e and "joined" in e.get("what", "")]
    assert len(failures) == 1


@pytest.fixture
def capture_log() -> Any:
    from twisted.logger import ILogObserver, globalLogPublisher

    captured: list[dict[str, Any]] = []
    observer = cast(ILogObserver, captured.append)
    globalLogPublisher.addObserver(observer)
    yield lambda: captured
    globalLogPublisher.removeObserver(observer)


# -- the real endpoint -----------------------------------------------------------------------


class Client:
    """treq over a real TCP connection with a pool we close ourselves."""

    def __init__(self, base: str) -> None:
        import treq
        from twisted.internet import reactor
        from twisted.web.client import Agent, HTTPConnectionPool

        self.base = base
        self.pool = HTTPConnectionPool(reactor)
        self.http = treq.client.HTTPClient(Agent(reactor, pool=self.pool))

    async def get(self, path: str, **kw: Any) -> tuple[int, dict[str, list[str]], bytes]:
        from twisted.internet import reactor

        d = self.http.get(self.base + path, **kw)
        d.addTimeout(5, reactor)
        response = await d
        body = await response.content()
        headers = {
            k.decode().lower(): [v.decode() for v in vs]
            for k, vs in response.headers.getAllRawHeaders()
        }
        return response.code, headers, body


@pytest_twisted.async_yield_fixture()
async def served() -> AsyncIterator[tuple[Metrics, Client]]:
    from twisted.internet import reactor

    config = parse(
        {
            "channel": [{"site": "https://cytu.be", "name": "mychannel"}],
            "metrics": {"enabled": True, "listen": "tcp:0:interface=127.0.0.1"},
        },
        {},
    )
    metrics = Metrics()
    service = make_metrics_service(config, metrics, reactor, storage_stale_after=60)
    service.startService()
    port: Any = await when_listening(service)
    client = Client(f"http://127.0.0.1:{port.getHost().port}")
    try:
        yield metrics, client
    finally:
        await client.pool.closeCachedConnections()
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_metrics_endpoint_serves_prometheus_text(served: tuple[Metrics, Client]) -> None:
    metrics, client = served
    metrics.event_in(CH, "message")
    metrics.event_in(CH, "message")
    metrics.observe_channel(CH, lambda: 12, lambda: 3, lambda: True, lambda: 0.5)
    code, headers, body = await client.get("/metrics")
    assert code == 200
    assert headers["content-type"] == ["text/plain; version=0.0.4; charset=utf-8"]
    text = body.decode()
    assert 'rosey_events_in_total{channel="cytu.be/mychannel",event="message"} 2.0' in text
    assert 'rosey_channel_users{channel="cytu.be/mychannel"} 12.0' in text
    assert 'rosey_send_queue_depth{channel="cytu.be/mychannel"} 3.0' in text
    # A scraper asking for OpenMetrics gets it, with its own content type and terminator.
    code, headers, body = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert code == 200
    assert headers["content-type"][0].startswith("application/openmetrics-text; version=1.0.0")
    assert body.endswith(b"# EOF\n")


@pytest_twisted.ensureDeferred
async def test_health_turns_503_and_back(served: tuple[Metrics, Client]) -> None:
    metrics, client = served
    state: dict[str, Any] = {"joined": False, "age": None, "write_age": 1.0, "pending": 5}
    metrics.observe_channel(
        CH,
        lambda: 3,
        lambda: 0,
        lambda: state["joined"],
        lambda: state["age"],
        lambda: "connecting",
    )
    metrics.observe_storage(lambda: state["write_age"], lambda: state["pending"])

    code, headers, body = await client.get("/health")
    assert code == 503
    assert headers["content-type"] == ["application/json"]
    doc = json.loads(body)
    assert doc["status"] == "unhealthy"
    assert doc["channels"] == {
        CH: {"joined": False, "state": "connecting", "last_event_age_s": None}
    }

    state.update(joined=True, age=2.5)
    code, _, body = await client.get("/health")
    assert code == 200
    doc = json.loads(body)
    assert doc == {
        "status": "ok",
        "version": rosey.__version__,
        "channels": {CH: {"joined": True, "state": "connecting", "last_event_age_s": 2.5}},
        "storage": {"ok": True, "last_write_age_s": 1.0, "pending": 5},
    }

    state["write_age"] = 300.0  # storage stuck with rows pending
    code, _, body = await client.get("/health")
    assert code == 503
    assert json.loads(body)["storage"]["ok"] is False


@pytest_twisted.ensureDeferred
async def test_unknown_path_is_404(served: tuple[Metrics, Client]) -> None:
    _, client = served
    code, _, _ = await client.get("/nope")
    assert code == 404


@pytest_twisted.ensureDeferred
async def test_a_busy_port_fails_at_startup() -> None:
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError

    config = parse(
        {
            "channel": [{"site": "https://cytu.be", "name": "mychannel"}],
            "metrics": {"listen": "tcp:0:interface=127.0.0.1"},
        },
        {},
    )
    first = make_metrics_service(config, Metrics(), reactor)
    first.startService()
    port: Any = await when_listening(first)
    try:
        busy = parse(
            {
                "channel": [{"site": "https://cytu.be", "name": "mychannel"}],
                "metrics": {"listen": f"tcp:{port.getHost().port}:interface=127.0.0.1"},
            },
            {},
        )
        second = make_metrics_service(busy, Metrics(), reactor)
        with pytest.raises(CannotListenError):
            second.privilegedStartService()
    finally:
        await first.stopService()


@pytest_twisted.ensureDeferred
async def test_storage_transactions_show_as_a_histogram_per_name(tmp_path: Any) -> None:
    """The daemon wires its storage's pool to ``rosey_storage_interaction_seconds``: after a
    few writes and reads, ``/metrics`` has a histogram per transaction name."""
    from twisted.internet import reactor

    from rosey.daemon.assemble import RoseyDaemon
    from rosey.storage import ops as o
    from rosey.storage import schema

    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    schema.upgrade(url)
    config = parse(
        {
            "channel": [{"site": "https://cytu.be", "name": "mychannel"}],
            "database": {"url": url},
            "metrics": {"enabled": True, "listen": "tcp:0:interface=127.0.0.1"},
        },
        {},
    )
    daemon = RoseyDaemon(config, reactor, check_schema=False)
    storage = daemon.storage.storage
    await storage.connect()
    service = make_metrics_service(config, daemon.metrics, reactor, storage_stale_after=60)
    service.startService()
    client = None
    try:
        await storage.record(CH, [o.ChatLine(1.0, "alice", "hi"), o.ChatLine(2.0, "bob", "yo")])
        await storage.record(CH, [o.ChatLine(3.0, "alice", "again")])
        await storage.kv_set(CH, "fun", "score", "3")
        assert len(await storage.get_recent_messages(CH)) == 3
        port: Any = await when_listening(service)
        client = Client(f"http://127.0.0.1:{port.getHost().port}")
        code, _, body = await client.get("/metrics")
    finally:
        if client is not None:
            await client.pool.closeCachedConnections()
        await service.stopService()
        await storage.close()
    assert code == 200
    text = body.decode()
    assert 'rosey_storage_interaction_seconds_bucket{le="+Inf",name="record"} 2.0' in text
    assert 'rosey_storage_interaction_seconds_count{name="kv.kv_set"} 1.0' in text
    assert 'rosey_storage_interaction_seconds_count{name="chat.get_recent_messages"} 1.0' in text
    assert 'rosey_storage_interaction_seconds_count{name="outbound.load_waiting"} 1.0' in text
