"""LangChain's own standard integration tests, over real HTTP, with a failing primary.

Each class runs the whole suite against a FallbackChatModel whose primary
``ChatOpenAI`` fails in one way on every request - mid-stream, with 429s, or
before its first token - so every answer is finished or given by the backup.

The fault server's models share one answer and call tools on their own
(``tool_call="auto"``), so the tool-calling and structured-output tests get the
calls and JSON they ask for; the skipped tests are the multimodal ones, which
need inputs (images, audio, PDFs) the models do not claim to read, and the
recorded-cassette benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests

from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import FallbackChatModel

from .conftest import ANSWER
from .servers import OpenAIHops

_FAULTS = {
    "cut-primary": Fault.cut_after(3),
    "limited-primary": Fault.rate_limit(retry_after=0),
    "reset-primary": Fault.reset_before_headers(),
}
_hops: OpenAIHops | None = None


@pytest.fixture(scope="module", autouse=True)
def fault_server_for_the_suite() -> Iterator[FaultServer]:
    """One fault server for every standard test of this module; its models call tools unasked."""
    global _hops
    names = [*_FAULTS, "backup", "override-model"]
    scripts = {name: ModelScript(ANSWER, tool_call="auto") for name in names}
    with FaultServer(scripts, faults=_FAULTS) as server:
        _hops = OpenAIHops(server)
        yield server
        _hops.close()
        _hops = None


def _model_params(primary: str) -> dict[str, Any]:
    assert _hops is not None, "the suite's fault server is not running"
    return {"models": [_hops(primary), _hops("backup")], "backoff": lambda n: 0.0}


class _FallbackIntegration(ChatModelIntegrationTests):
    primary = "cut-primary"

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return FallbackChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return _model_params(self.primary)

    @property
    def model_override_value(self) -> str | None:
        return "override-model"

    @property
    def supports_json_mode(self) -> bool:
        return True


class TestPrimaryCutMidStream(_FallbackIntegration):
    primary = "cut-primary"


class TestPrimaryRateLimited(_FallbackIntegration):
    primary = "limited-primary"


class TestPrimaryResetBeforeFirstToken(_FallbackIntegration):
    primary = "reset-primary"
