"""Inner retries: by default a hop's own client does not retry, so the chain alone decides."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from fallback_core import Category, Rule
from fallback_core.testing import Fault, FaultServer
from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import ANSWER, Call
from .fakes import ScriptedChatModel, ok
from .servers import OpenAIHops

NO_RATE_LIMIT_RETRIES = {"rules": {Category.RATE_LIMIT: Rule(retries=0)}}


def running(model: FallbackChatModel, index: int = 0) -> BaseChatModel:
    """The model a hop actually calls."""
    target: Any = model.fallback_chain.hops[index].target
    running_model: BaseChatModel = target.model
    return running_model


def test_openai_hop_runs_on_a_copy_without_client_retries() -> None:
    """An OpenAI model's clients retry twice by default; the hop's copy does not retry."""
    user_model = ChatOpenAI(model="gpt-4o-mini", api_key="test", base_url="http://127.0.0.1:9/v1")

    hop_model = running(FallbackChatModel(models=[user_model]))

    assert isinstance(hop_model, ChatOpenAI)
    assert hop_model.root_client.max_retries == 0
    assert hop_model.root_async_client.max_retries == 0
    assert user_model.root_client.max_retries == 2


def test_keep_leaves_the_hop_clients_retrying_as_given() -> None:
    """``inner_retries="keep"`` calls the caller's own clients, retries included."""
    user_model = ChatOpenAI(
        model="gpt-4o-mini", api_key="test", base_url="http://127.0.0.1:9/v1", stream_usage=True
    )

    hop_model = running(FallbackChatModel(models=[user_model], inner_retries="keep"))

    assert hop_model is user_model, "nothing to change: it already streams its usage"
    assert hop_model.root_client.max_retries == 2


class LazyClientModel(ScriptedChatModel):
    """A model that builds its client from ``max_retries`` on first use, as ChatAnthropic does."""

    max_retries: int = 2

    @functools.cached_property
    def client(self) -> dict[str, int]:
        return {"max_retries": self.max_retries}


def test_lazily_built_client_is_rebuilt_without_retries() -> None:
    """A model whose client is cached from ``max_retries`` gets a fresh, retry-less copy."""
    user_model = LazyClientModel(ok("Hi."))
    assert user_model.client == {"max_retries": 2}

    hop_model = running(FallbackChatModel(models=[user_model]))

    assert isinstance(hop_model, LazyClientModel)
    assert hop_model.client == {"max_retries": 0}
    assert user_model.client == {"max_retries": 2}


def test_model_without_retries_is_used_as_is() -> None:
    """A model with no retry setting of its own is not copied."""
    user_model = ScriptedChatModel(ok("Hi."))

    assert running(FallbackChatModel(models=[user_model])) is user_model


@pytest.mark.parametrize(("inner_retries", "primary_attempts"), [("off", 1), ("keep", 3)])
def test_inner_retries_setting_decides_how_often_the_primary_is_hit(
    call: Call,
    fault_server: FaultServer,
    openai_hop: OpenAIHops,
    inner_retries: str,
    primary_attempts: int,
) -> None:
    """Over HTTP a rate-limited ChatOpenAI(max_retries=2) is hit once, unless retries are kept."""
    fault_server.set_fault("primary", Fault.rate_limit(retry_after_ms=1))
    model = FallbackChatModel(
        models=[ChatHop(openai_hop("primary", max_retries=2)), openai_hop("backup")],
        inner_retries=inner_retries,
        **NO_RATE_LIMIT_RETRIES,
    )

    assert call(model, "hi").text == ANSWER
    assert fault_server.attempt_count("primary") == primary_attempts
