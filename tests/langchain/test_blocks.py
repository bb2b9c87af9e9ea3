"""Anthropic-only content blocks in a history, through real ChatAnthropic / ChatOpenAI hops.

An earlier Claude turn holding a web search (its call, its result, a text block
with citations) and a user turn holding a search result and documents reach an
OpenAI hop converted: the strict fault server refuses each raw block as
api.openai.com does. (OpenAI's own parts need no rule: langchain-core turns
``file`` / ``input_audio`` parts into standard blocks ChatAnthropic converts.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from fallback_core import ChainExhaustedError, ConfigurationError
from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import ChatHop, FallbackChatModel
from langchain_fallback._history import for_model

from .servers import AnthropicHops, OpenAIHops

ANSWER = "Fallback chains keep a pipeline answering."
PDF = "JVBERi0xLjQK"
SEARCH = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"}
RESULTS = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_1",
    "content": [
        {
            "type": "web_search_result",
            "title": "Fallback chains",
            "url": "https://example.com/chains",
            "encrypted_content": "EqgfCioIARgBIiQ3",
            "page_age": None,
        }
    ],
}
CITED = {
    "type": "text",
    "text": "They keep pipelines answering.",
    "citations": [
        {
            "type": "web_search_result_location",
            "url": "https://example.com/chains",
            "title": "Fallback chains",
            "encrypted_index": "Eo8BCioIAhgBIiQ",
            "cited_text": "keep pipelines answering",
        }
    ],
}


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """One answer on both APIs."""
    return {name: ModelScript(ANSWER) for name in ("claude", "gpt")}


def fallback(*models: Any) -> FallbackChatModel:
    hops = [ChatHop(m, name=getattr(m, "model", None) or m.model_name) for m in models]
    return FallbackChatModel(models=hops, backoff=lambda n: 0.0, max_retry_after=1)


QUESTION = [
    {"type": "text", "text": "What are fallback chains?"},
    {
        "type": "search_result",
        "source": "https://example.com/notes",
        "title": "Notes",
        "content": [{"type": "text", "text": "A chain walks its models in order."}],
        "citations": {"enabled": True},
    },
    {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
        "title": "spec.pdf",
    },
    {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "Plain notes."},
    },
]


def claude_history(question: list[Any] | str = QUESTION) -> list[BaseMessage]:
    """A user turn (Anthropic-form inputs), Claude's web-search answer as ChatAnthropic
    writes it, a follow-up."""
    meta = {"model_name": "claude", "model_provider": "anthropic"}
    answer = AIMessage([SEARCH, RESULTS, CITED], response_metadata=meta)
    return [HumanMessage(question), answer, HumanMessage("Tell me more")]


@pytest.mark.parametrize("question", [QUESTION, "What are fallback chains?"])
def test_a_claude_turn_with_server_tools_and_citations_is_served_by_an_openai_hop(
    fault_server: FaultServer,
    anthropic_hop: AnthropicHops,
    openai_hop: OpenAIHops,
    question: list[Any] | str,
) -> None:
    """Claude's web search, cited text and the user's documents reach ChatOpenAI converted."""
    model = fallback(anthropic_hop("claude"), openai_hop("gpt"))
    assert model.invoke(claude_history(question)).text == ANSWER  # Anthropic takes them all
    fault_server.set_fault("claude", Fault.rate_limit())
    answer = model.invoke(claude_history(question))
    assert answer.text == ANSWER
    assert answer.response_metadata["fallback"]["served_by"] == "gpt"


def test_an_openai_hop_is_sent_what_it_can_read_of_each_block(openai_hop: OpenAIHops) -> None:
    """The search's result becomes text without its ciphertext, a PDF OpenAI's file part."""
    question, answer, _ = for_model(claude_history(), openai_hop("gpt"))
    assert answer.content == [
        {
            "type": "text",
            "text": "[web_search_tool_result]\nFallback chains\nhttps://example.com/chains",
        },
        {"type": "text", "text": "They keep pipelines answering."},
    ]
    assert question.content[1:] == [
        {
            "type": "text",
            "text": "Notes\nhttps://example.com/notes\nA chain walks its models in order.",
        },
        {
            "type": "file",
            "file": {"filename": "spec.pdf", "file_data": f"data:application/pdf;base64,{PDF}"},
        },
        {"type": "text", "text": "Plain notes."},
    ]


def test_an_anthropic_hop_keeps_anthropic_blocks_as_they_are(anthropic_hop: AnthropicHops) -> None:
    """Claude's own blocks go back to a Claude hop unchanged."""
    history = claude_history()
    assert for_model(history, anthropic_hop("claude")) == history


def test_a_document_no_openai_hop_can_read_is_refused_naming_the_block(
    fault_server: FaultServer, anthropic_hop: AnthropicHops, openai_hop: OpenAIHops
) -> None:
    """A document by Anthropic file id is the user's content: refused, never silently dropped."""
    document = {"type": "document", "source": {"type": "file", "file_id": "file_011"}}
    history: list[BaseMessage] = [HumanMessage([{"type": "text", "text": "Read it"}, document])]
    fault_server.set_fault("claude", Fault.rate_limit())
    with pytest.raises(ChainExhaustedError) as caught:
        fallback(anthropic_hop("claude"), openai_hop("gpt")).invoke(history)
    [refused] = [e for e in caught.value.exceptions if isinstance(e, ConfigurationError)]
    assert refused.field == "content block 'document'"
