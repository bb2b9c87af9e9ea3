"""Weighted tiers in FallbackLLM: equivalent deployments sharing one place in the chain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.response.schema import StreamingResponse
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

from fallback_core import ConfigurationError, Tier
from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM, LLMHop
from tests.llamaindex.http import SHARED, openai_like

DOCUMENTS = [Document(text="A tier holds equivalent deployments of one model.")]


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    return {name: ModelScript(answer=SHARED) for name in ("east", "west", "backup")}


def test_a_tier_takes_one_place_with_its_weights() -> None:
    """The tier's LLMs become hops of one place, each with its weight (1 by default)."""
    west, other = (LLMHop(MockLLM(), name=n) for n in ("west", "other"))

    llm = FallbackLLM([Tier([LLMHop(MockLLM(), name="east", weight=3), west]), other])

    chain = llm.fallback_chain
    assert [(h.name, h.weight) for h in chain.hops] == [("east", 3), ("west", 1.0), ("other", 1.0)]
    assert chain.groups == ((0, 1), (2,))


@pytest.mark.parametrize(
    ("llms", "field", "problem"),
    [
        (lambda m: [Tier([])], "llms[0].hops", "no deployments"),
        (lambda m: [Tier([m, "gpt-4o"])], "llms[0].hops[1]", "str is not a LlamaIndex LLM"),
        (lambda m: [m, Tier([LLMHop(m, weight=-1)])], "llms[1].hops[0].weight", "-1"),
    ],
)
def test_a_bad_tier_member_is_named_by_its_place(llms: Any, field: str, problem: str) -> None:
    """An empty tier, a member that is not an LLM, a negative weight: named exactly."""
    with pytest.raises(ConfigurationError) as raised:
        FallbackLLM(llms(MockLLM()))

    assert raised.value.field == field
    assert problem in raised.value.problem


def tiered(server: FaultServer) -> FallbackLLM:
    """east (weight 1) and west (weight 0: only after east) share a place; then the backup."""
    tier = Tier(
        [
            LLMHop(openai_like(server, "east"), weight=1),
            LLMHop(openai_like(server, "west"), weight=0),
        ]
    )
    return FallbackLLM([tier, openai_like(server, "backup")], backoff=lambda retry: 0.0)


def test_in_a_query_engine_a_failed_deployment_is_replaced_inside_its_tier(
    fault_server: FaultServer,
) -> None:
    """east fails; west, in the same tier, answers the streaming query before the backup."""
    fault_server.set_fault("east", Fault.server_error(503))
    index = VectorStoreIndex.from_documents(DOCUMENTS, embed_model=MockEmbedding(embed_dim=8))
    engine = index.as_query_engine(llm=tiered(fault_server), streaming=True)

    response = engine.query("What is a tier?")

    assert isinstance(response, StreamingResponse)
    assert "".join(response.response_gen) == SHARED
    assert [len(fault_server.attempts(n)) for n in ("east", "west", "backup")] == [2, 1, 0]


async def test_in_an_async_query_engine_a_tier_down_hands_over_to_the_next_place(
    fault_server: FaultServer,
) -> None:
    """Both deployments of the tier fail: the backup answers the query."""
    fault_server.set_fault("east", Fault.server_error(503))
    fault_server.set_fault("west", Fault.reset_before_headers())
    index = VectorStoreIndex.from_documents(DOCUMENTS, embed_model=MockEmbedding(embed_dim=8))
    engine = index.as_query_engine(llm=tiered(fault_server))

    assert str(await engine.aquery("What is a tier?")) == SHARED
    assert [len(fault_server.attempts(n)) for n in ("east", "west", "backup")] == [2, 1, 1]
