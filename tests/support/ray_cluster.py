"""The local Ray cluster the scale tests run on: ``.ci/run`` starts its head and sets
``TALKBRIDGE_TEST_RAY``."""

from __future__ import annotations

import os

import pytest


def address_or_skip() -> str:
    """The head's address; a skip here (a failure under CI, which must have one) when none runs."""
    address = os.environ.get("TALKBRIDGE_TEST_RAY")
    if not address:
        message = "no Ray cluster: `ray start --head` and set TALKBRIDGE_TEST_RAY=127.0.0.1:6379"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    pytest.importorskip("ray")
    return address
