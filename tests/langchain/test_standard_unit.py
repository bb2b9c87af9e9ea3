"""LangChain's own standard unit tests for chat models, run on FallbackChatModel."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_fallback import FallbackChatModel

# The suite passes provider options (api_key, temperature, ...) that belong on the hops.
pytestmark = pytest.mark.filterwarnings("ignore:FallbackChatModel ignores")

_UNREACHABLE = "http://127.0.0.1:9/v1"  # never called: unit tests make no requests
_HOPS = [
    ChatOpenAI(model="gpt-4o-mini", base_url=_UNREACHABLE, api_key="test", max_retries=0),
    ChatOpenAI(model="gpt-4o", base_url=_UNREACHABLE, api_key="test", max_retries=0),
]


class TestFallbackChatModelUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return FallbackChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"models": _HOPS}
