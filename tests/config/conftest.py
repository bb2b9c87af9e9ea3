"""Fixtures for named chains from configuration: files, a clean environment, the fault server.

Models on the fault server share one answer, so any of them can finish
another's broken one. OpenAI-compatible entries reach it through their
options (``base_url`` / ``api_base`` and ``api_key``), exactly as a
configuration file would point at a self-hosted endpoint.
"""

from __future__ import annotations

import os

os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import llama_index.core
import pytest

from fallback_core.config import API_KEY_VARIABLES
from fallback_core.testing import FaultServer, ModelScript
from fallback_core.testing.pytest_plugin import fault_server  # noqa: F401

# llama-index-core ships the tokenizer data it needs; keep every lookup offline.
_STATIC = Path(llama_index.core.__file__).parent / "_static"
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_STATIC / "tiktoken_cache"))
os.environ.setdefault("NLTK_DATA", str(_STATIC / "nltk_cache"))

ANSWER = (
    "A configured chain keeps answering when its first model breaks off, "
    "and the caller reads one complete answer with nothing lost or repeated."
)


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """Three models with one shared answer."""
    return {name: ModelScript(ANSWER) for name in ("primary", "backup", "third")}


@pytest.fixture(autouse=True)
def no_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key from the developer's shell reaches a test."""
    for variable in API_KEY_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)


Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Writes a configuration file named ``name`` with ``text`` and returns its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def served_by(server: FaultServer) -> list[str]:
    """The models the server was asked to answer, in order."""
    return [attempt.model for attempt in server.attempts()]


@pytest.fixture
def langchain_options(fault_server: FaultServer) -> dict[str, Any]:  # noqa: F811
    """``options`` pointing a ChatOpenAI entry at the fault server."""
    return {"base_url": fault_server.base_url, "api_key": "test"}


@pytest.fixture
def llamaindex_options(fault_server: FaultServer) -> dict[str, Any]:  # noqa: F811
    """``options`` pointing an OpenAILike entry at the fault server, as a chat model."""
    return {
        "api_base": fault_server.base_url,
        "api_key": "test",
        "is_chat_model": True,
        "context_window": 16_000,
        "timeout": 10.0,
    }


class _Hidden:
    """A meta path finder that makes some packages look not installed."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if any(name == hidden or name.startswith(f"{hidden}.") for hidden in self.names):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


@pytest.fixture
def without_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Anthropic integrations look not installed (they are in the dev extras)."""
    import sys

    names = ("langchain_anthropic", "llama_index.llms.anthropic")
    for module in list(sys.modules):
        if any(module == n or module.startswith(f"{n}.") for n in names):
            monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(sys, "meta_path", [_Hidden(names), *sys.meta_path])
