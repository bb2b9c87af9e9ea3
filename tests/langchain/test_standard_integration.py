"""LangChain's own standard integration tests, over real HTTP, with a failing primary.

Each class runs the whole suite against a FallbackChatModel whose primary
``ChatOpenAI`` fails in one way on every request - mid-stream, with 429s, or
before its first token - so every answer is finished or given by the backup.
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
    """One fault server for every standard test of this module."""
    global _hops
    names = [*_FAULTS, "backup", "override-model"]
    with FaultServer({name: ModelScript(ANSWER) for name in names}, faults=_FAULTS) as server:
        _hops = OpenAIHops(server)
        yield server
        _hops.close()
        _hops = None


# Standard tests that need a fault server which answers like a model that reads its
# request. Each is skipped (not marked xfail: the hops can do it) with what is missing.
_TOOL_CALL = (
    "the fault server needs to answer with a call to whichever tool is bound "
    "(tool_choice's tool, else the first), arguments built from its JSON schema"
)
_JSON_OBJECT = "the fault server needs to answer response_format=json_object with a JSON object"
_NEEDS_SMARTER_SERVER = {
    "test_agent_loop": _TOOL_CALL,
    "test_bind_runnables_as_tools": _TOOL_CALL,
    "test_json_mode": _JSON_OBJECT,
    "test_structured_output": _TOOL_CALL,
    "test_structured_output_async": _TOOL_CALL,
    "test_structured_output_optional_param": _TOOL_CALL,
    "test_structured_output_pydantic_2_v1": _TOOL_CALL,
    "test_tool_calling": _TOOL_CALL,
    "test_tool_calling_async": _TOOL_CALL,
    "test_tool_calling_with_no_arguments": _TOOL_CALL,
    "test_tool_choice": _TOOL_CALL,
    "test_unicode_tool_call_integration": _TOOL_CALL,
}


@pytest.fixture(autouse=True)
def _skip_what_the_fault_server_cannot_answer(request: pytest.FixtureRequest) -> None:
    reason = _NEEDS_SMARTER_SERVER.get(getattr(request.node, "originalname", ""))
    if reason is not None:
        pytest.skip(reason)


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
