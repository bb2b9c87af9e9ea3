"""Weighted tiers in FallbackChatModel: equivalent deployments sharing one place in the chain."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from fallback_core import ConfigurationError, Tier
from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import ChatHop, FallbackChatModel

from .conftest import ANSWER
from .fakes import ScriptedChatModel, ok
from .servers import OpenAIHops

NO_WAIT = {"backoff": lambda retry: 0.0}


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return {name: ModelScript(ANSWER) for name in ("east", "west", "backup")}


def test_a_tier_takes_one_place_with_its_weights() -> None:
    """The tier's models become hops of one place, each with its weight (1 by default)."""
    east, west, backup = (
        ScriptedChatModel(ok("x"), model_name=n) for n in ("east", "west", "other")
    )

    model = FallbackChatModel(models=[Tier([ChatHop(east, weight=3), west]), backup])

    chain = model.fallback_chain
    assert [(h.name, h.weight) for h in chain.hops] == [("east", 3), ("west", 1.0), ("other", 1.0)]
    assert chain.groups == ((0, 1), (2,))


@pytest.mark.parametrize(
    ("models", "field", "problem"),
    [
        (lambda m: [Tier([])], "models[0].hops", "no deployments"),
        (lambda m: [Tier([m, "gpt-4o"])], "models[0].hops[1]", "str is not a chat model"),
        (lambda m: [m, Tier([ChatHop(m, weight=-1)])], "models[1].hops[0].weight", "-1"),
    ],
)
def test_a_bad_tier_member_is_named_by_its_place(models: Any, field: str, problem: str) -> None:
    """An empty tier, a member that is not a chat model, a negative weight: named exactly."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackChatModel(models=models(ScriptedChatModel(ok("x"), model_name="m")))

    assert raised.value.field == field
    assert problem in raised.value.problem


def tiered(openai_hop: OpenAIHops) -> FallbackChatModel:
    """east (weight 1) and west (weight 0: only after east) share a place; then the backup."""
    tier = Tier([ChatHop(openai_hop("east"), weight=1), ChatHop(openai_hop("west"), weight=0)])
    return FallbackChatModel(models=[tier, openai_hop("backup")], **NO_WAIT)


def lcel(model: FallbackChatModel) -> Any:
    return ChatPromptTemplate.from_template("{question}") | model | StrOutputParser()


@pytest.mark.parametrize("kind", ["invoke", "stream", "ainvoke", "astream"])
def test_in_an_lcel_chain_a_failed_deployment_is_replaced_inside_its_tier(
    kind: str, fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """east fails; west, in the same tier, answers before the next place is tried."""
    fault_server.set_fault("east", Fault.server_error(503))
    chain, question = lcel(tiered(openai_hop)), {"question": "Why tiers?"}

    async def run_async() -> str:
        if kind == "ainvoke":
            return str(await chain.ainvoke(question))
        return "".join([text async for text in chain.astream(question)])

    if kind == "invoke":
        answer = chain.invoke(question)
    elif kind == "stream":
        answer = "".join(chain.stream(question))
    else:
        answer = asyncio.run(run_async())

    assert answer == ANSWER
    assert len(fault_server.attempts("east")) == 2, "a 503 is retried once on the same hop"
    assert len(fault_server.attempts("west")) == 1
    assert fault_server.attempts("backup") == []


def test_when_every_deployment_of_a_tier_fails_the_next_place_answers(
    fault_server: FaultServer, openai_hop: OpenAIHops
) -> None:
    """Both deployments down: the walk moves on to the backup, continuing nothing."""
    fault_server.set_fault("east", Fault.server_error(503))
    fault_server.set_fault("west", Fault.reset_before_headers())

    assert lcel(tiered(openai_hop)).invoke({"question": "Why tiers?"}) == ANSWER
    assert [len(fault_server.attempts(n)) for n in ("east", "west", "backup")] == [2, 1, 1]
