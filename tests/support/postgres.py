"""The PostgreSQL the memory tests use: ``TALKBRIDGE_TEST_POSTGRES`` (CI starts one in
``.ci/run``), else a local one at the same default. Missing, the tests skip here and fail in CI."""

from __future__ import annotations

import os

import pytest

DEFAULT_URL = "postgresql://talkbridge:talkbridge@127.0.0.1:5432/talkbridge_test"


def postgres_url() -> str:
    """A reachable database with no talkbridge rows in it, or skip (fail under ``CI``)."""
    url = os.environ.get("TALKBRIDGE_TEST_POSTGRES", DEFAULT_URL)
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=2, autocommit=True) as connection:
            connection.execute("DROP TABLE IF EXISTS talkbridge_messages")
    except Exception as exc:  # noqa: BLE001 - no driver, no server, no database: same answer
        message = (f"PostgreSQL at {url} is not reachable ({str(exc).strip()[:80]}): start one "
                   "as .ci/run does, or set TALKBRIDGE_TEST_POSTGRES")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url
