"""The local Ray cluster the scale tests run on (``.ci/run`` starts its head and sets
``TALKBRIDGE_TEST_RAY``), joined once per test process."""

from __future__ import annotations

import pytest

from tests.support.ray_cluster import address_or_skip


@pytest.fixture(scope="session")
def ray_address() -> str:
    """The head's address, joined; a skip here (a failure under CI) when none runs."""
    address = address_or_skip()
    from bridge.server import scale

    scale.connect(address)
    return address
