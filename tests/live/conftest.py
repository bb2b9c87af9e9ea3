"""Live tests: the adapters' pipelines against a real tiny model behind the fault server.

Opt-in. They run when asked for - ``make live``, ``pytest -m live`` (any
``-m`` expression that names ``live``) or ``FALLBACK_LIVE=1`` - and are
skipped otherwise, so ``make test`` neither runs them nor needs
llama-cpp-python. Asked for without llama-cpp-python or the model package
installed, they fail with the line that installs them, rather than pass by
skipping.

The model is Gemma 3 270M (Q4_K_M GGUF, shipped on PyPI in chunks), assembled
once into ``.cache/models/`` and served by ``python -m llama_cpp.server`` for
the whole session; each test gets a fault server in proxy mode in front of it,
whose "primary" and "backup" are both that model.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fallback_core.testing import FaultServer
from tests.live.upstream import MODEL_ALIAS, LiveSetupError, LlamaServer, model_file

os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

HERE = Path(__file__).resolve().parent
INSTALL = "pip install -e . --group dev --group live (or run: make live)"


def live_asked_for(config: pytest.Config) -> bool:
    """Whether this run opted in: a ``-m`` expression naming live, or FALLBACK_LIVE=1."""
    markexpr = config.getoption("markexpr", default="") or ""
    return "live" in markexpr or os.environ.get("FALLBACK_LIVE") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test under tests/live/ unless the run opted in."""
    if live_asked_for(config):
        return
    skip = pytest.mark.skip(
        reason="live tiny model: opt in with `make live`, `pytest -m live` or FALLBACK_LIVE=1"
    )
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    """llama-cpp-python's OpenAI-compatible server with the tiny model, for the whole session."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail(f"the live tests need llama-cpp-python: {INSTALL}", pytrace=False)
    try:
        with LlamaServer(model_file()) as server:
            yield server
    except LiveSetupError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def proxy(llama_server: LlamaServer) -> Iterator[FaultServer]:
    """A fault server in proxy mode whose "primary" and "backup" are both the real model."""
    models = {"primary": MODEL_ALIAS, "backup": MODEL_ALIAS}
    with FaultServer(upstream=llama_server.base_url, upstream_models=models) as server:
        yield server
