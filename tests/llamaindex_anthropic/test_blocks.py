"""LlamaIndex's citation blocks in a history, through real `Anthropic` / `OpenAILike` hops.

A Claude answer citing a search result carries `CitationBlock`s, and the user's
search result is a `CitableBlock`: LlamaIndex's `OpenAI` raises on both, so an
OpenAI hop gets the search result as text and no citations, while a Claude hop
gets both as LlamaIndex sends them (a ``search_result`` block; citations dropped).
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    CitableBlock,
    CitationBlock,
    TextBlock,
)
from llama_index.core.llms import LLM

from fallback_core._history import HistoryReader
from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM, LLMHop
from llamaindex_fallback._history import sanitise
from tests.llamaindex.http import openai_like
from tests.llamaindex_anthropic.test_hops import claude

ANSWER = "Fallback chains keep a pipeline answering."
CLAUDE = "claude-sonnet-4-5"


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """One answer on both APIs."""
    return {name: ModelScript(ANSWER) for name in (CLAUDE, "gpt")}


def fallback(*llms: LLM) -> FallbackLLM:
    hops = [LLMHop(llm, name=llm.metadata.model_name) for llm in llms]
    return FallbackLLM(hops, max_retry_after=1, max_attempts=4)


def history() -> list[ChatMessage]:
    """The user's search result, Claude's cited answer, a follow-up."""
    notes = CitableBlock(
        title="Notes",
        source="https://example.com/notes",
        content=[TextBlock(text="A chain walks its models in order.")],
    )
    cited = CitationBlock(
        cited_content=TextBlock(text="walks its models in order"),
        source="https://example.com/notes",
        title="Notes",
        additional_location_info={"start_block_index": 0, "end_block_index": 1},
    )
    return [
        ChatMessage(role="user", blocks=[TextBlock(text="What is a chain?"), notes]),
        ChatMessage(role="assistant", blocks=[TextBlock(text="It walks its models."), cited]),
        ChatMessage(role="user", content="Tell me more"),
    ]


def test_a_claude_turn_with_citations_is_served_by_an_openai_hop(
    fault_server: FaultServer,
) -> None:
    """The user's search result and Claude's citations reach OpenAILike as it can take them."""
    llm = fallback(claude(fault_server, CLAUDE), openai_like(fault_server, "gpt"))
    assert llm.chat(history()).message.content == ANSWER  # the Anthropic API takes them
    fault_server.set_fault(CLAUDE, Fault.rate_limit())
    response = llm.chat(history())
    assert response.message.content == ANSWER
    assert response.additional_kwargs["fallback"]["served_by"] == "gpt"


def test_an_openai_hop_gets_the_search_result_as_text_and_no_citations() -> None:
    """What another hop is sent: the search result's title, source and text; no citations."""
    messages = history()
    sanitise(messages, HistoryReader(anthropic=False, model="gpt"))
    assert [[type(b).__name__ for b in m.blocks] for m in messages] == [
        ["TextBlock", "TextBlock"],
        ["TextBlock"],
        ["TextBlock"],
    ]
    assert messages[0].blocks[1] == TextBlock(
        text="Notes\nhttps://example.com/notes\nA chain walks its models in order."
    )
    kept = history()
    sanitise(kept, HistoryReader(anthropic=True, model=CLAUDE))
    assert kept == history()
