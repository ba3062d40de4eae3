"""The bounded wait the live tests rely on really fails when its time is up."""

import pytest
import pytest_twisted
from twisted.internet.defer import TimeoutError as DeferredTimeout

from tests.waiting import eventually


@pytest_twisted.ensureDeferred
async def test_eventually_fails_after_its_timeout() -> None:
    with pytest.raises(DeferredTimeout):
        await eventually(lambda: False, 0.2)


@pytest_twisted.ensureDeferred
async def test_eventually_fires_when_the_predicate_holds() -> None:
    await eventually(lambda: True, 1.0)
