"""A pytest plugin with a `fault_server` fixture.

Enable it with `pytest_plugins = ["fallback_core.testing.pytest_plugin"]` in a
conftest. Override the `fault_server_models` fixture to give models scripts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from fallback_core.testing._answers import ModelScript
from fallback_core.testing._server import FaultServer


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """The scripted models of `fault_server`: none by default (every name shares one answer)."""
    return {}


@pytest.fixture
def fault_server(fault_server_models: Mapping[str, ModelScript]) -> Iterator[FaultServer]:
    """A running `FaultServer`, started for the test and stopped after it."""
    with FaultServer(fault_server_models) as server:
        yield server
