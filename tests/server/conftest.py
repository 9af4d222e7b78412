"""The local Ray cluster the scale tests run on (``.ci/run`` starts its head and sets
``TALKBRIDGE_TEST_RAY``), joined once per test process."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def ray_address() -> str:
    """The head's address, joined; a skip here (a failure under CI) when none runs."""
    address = os.environ.get("TALKBRIDGE_TEST_RAY")
    if not address:
        message = "no Ray cluster: `ray start --head` and set TALKBRIDGE_TEST_RAY=127.0.0.1:6379"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pytest.importorskip("ray")
    from bridge.server import scale

    scale.connect(address)
    return address
