"""TaskSet: running Deferreds by key, and waiting until none runs."""

from twisted.internet.defer import Deferred, succeed

from rosey.bot.tasks import TaskSet


def test_idle_waits_for_every_tracked_deferred() -> None:
    tasks = TaskSet()
    first: Deferred[None] = Deferred()
    second: Deferred[None] = Deferred()
    tasks.track("a", first)
    tasks.track("b", second)
    tasks.track("done already", succeed(None))
    assert "a" in tasks
    assert "done already" not in tasks
    assert len(tasks) == 2
    idle = tasks.idle()
    first.callback(None)
    assert not idle.called
    assert "a" not in tasks
    second.callback(None)
    assert idle.called
    assert len(tasks) == 0
    assert tasks.idle().called
