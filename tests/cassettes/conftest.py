"""Cassette tests: pytest-recording configured once, from ``tests/cassettes/recording.py``.

Every cassette lives under the top-level ``cassettes/`` folder and is played
with record mode "none": a request missing from its cassette is refused,
never sent. Cassettes are written only by ``scripts/record_cassettes.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

from collections.abc import Iterator
from typing import Any

import pytest

from tests.cassettes import recording
from tests.cassettes.scenarios import Clients


@pytest.fixture(scope="session")
def record_mode() -> str:
    """Always "none", whatever ``--record-mode`` says: a test run never writes a cassette."""
    return "none"


@pytest.fixture(scope="session")
def vcr_config() -> dict[str, Any]:
    """This project's vcrpy rules, record mode "none" (it outranks ``--record-mode``)."""
    return recording.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    """The top-level ``cassettes/`` folder; each test names its cassette with `default_cassette`."""
    return str(recording.CASSETTES)


@pytest.fixture
def clients() -> Iterator[Clients]:
    """HTTP clients for one test's hops, closed after it."""
    made = Clients.plain()
    yield made
    made.close()
