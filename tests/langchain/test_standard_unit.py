"""LangChain's own standard unit tests for chat models, run on FallbackChatModel."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_fallback import FallbackChatModel

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
    def standard_chat_model_params(self) -> dict[str, Any]:
        # The suite's api_key belongs on the hops, and FallbackChatModel refuses it.
        params = dict(super().standard_chat_model_params)
        del params["api_key"]
        return params

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"models": _HOPS}
