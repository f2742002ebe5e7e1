import pytest
import time_machine

from tests.training.helpers import START


@pytest.fixture
def clock():
    """Frozen time: TOTP codes depend on it, and a code is accepted once only, so tests move
    the clock by one 30-second step between codes."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller
