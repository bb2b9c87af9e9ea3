"""Tool calling and structured output through hops that each format tools their own way."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ToolCallBlock
from llama_index.core.llms import MockLLM
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from llamaindex_fallback import FallbackLLM
from tests.llamaindex.conftest import Drive, user
from tests.llamaindex.fakes import ScriptedLLM, cut, fail


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


TOOLS = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]
MULTIPLY = (("multiply", {"a": 6, "b": 7}),)


class Album(BaseModel):
    """An album."""

    title: str
    year: int


ALBUM = {"title": "Blue", "year": 1971}


def test_chat_with_tools_uses_each_hops_own_tool_format(drive: Drive) -> None:
    """Each hop is handed the LlamaIndex tools and prepares them itself."""
    primary = ScriptedLLM(fail(ConnectionError("down")), model="a", tool_calls=MULTIPLY)
    backup = ScriptedLLM(model="b", tool_calls=MULTIPLY)

    response = drive.chat_with_tools(FallbackLLM([primary, backup]), TOOLS, user_msg="6 x 7?")

    assert backup.calls[0].kwargs["tools"] == ["multiply", "add"]
    assert backup.calls[0].messages[-1].content == "6 x 7?"
    assert response.additional_kwargs["fallback"]["served_by"] == "b"


def test_tool_calls_are_read_from_a_response_of_any_hop(drive: Drive) -> None:
    """get_tool_calls_from_response returns the serving hop's call as a ToolSelection."""
    llm = FallbackLLM(
        [
            ScriptedLLM(fail(ConnectionError("down")), tool_calls=MULTIPLY),
            ScriptedLLM(tool_calls=MULTIPLY),
        ]
    )

    response = drive.chat_with_tools(llm, TOOLS, user_msg="6 x 7?")
    (call,) = llm.get_tool_calls_from_response(response)

    assert (call.tool_name, call.tool_kwargs, call.tool_id) == (
        "multiply",
        {"a": 6, "b": 7},
        "call_0",
    )


def test_a_streamed_tool_call_arrives_whole(drive: Drive) -> None:
    """Streaming with tools never shows half a tool call; the last response holds it whole."""
    llm = FallbackLLM(
        [ScriptedLLM(fail(ConnectionError("down"))), ScriptedLLM(tool_calls=MULTIPLY)]
    )

    responses = drive.stream_chat_with_tools(llm, TOOLS, chat_history=user("6 x 7?"))

    with_calls = [r for r in responses if llm.get_tool_calls_from_response(r, False)]
    assert with_calls
    assert all(
        [c.tool_kwargs for c in llm.get_tool_calls_from_response(r)] == [{"a": 6, "b": 7}]
        for r in with_calls
    )


def test_without_parallel_calls_only_the_first_tool_call_is_kept(drive: Drive) -> None:
    """allow_parallel_tool_calls=False leaves one tool call, whatever the hop returned."""
    two = (("multiply", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4}))
    llm = FallbackLLM([ScriptedLLM(tool_calls=two)])

    single = drive.chat_with_tools(llm, TOOLS, user_msg="go", allow_parallel_tool_calls=False)
    parallel = drive.chat_with_tools(llm, TOOLS, user_msg="go", allow_parallel_tool_calls=True)

    assert [c.tool_name for c in llm.get_tool_calls_from_response(single)] == ["multiply"]
    assert [c.tool_name for c in llm.get_tool_calls_from_response(parallel)] == ["multiply", "add"]


def test_a_response_in_a_hops_own_legacy_format_is_read_by_that_hop() -> None:
    """A response without ToolCallBlocks is read by the hop whose format it is."""
    llm = FallbackLLM([ScriptedLLM()])
    legacy = ChatResponse(
        message=ChatMessage(
            role="assistant",
            content="",
            additional_kwargs={
                "tool_calls": [1],
                "scripted_calls": [{"id": "x", "name": "add", "args": {"a": 1}}],
            },
        )
    )

    (call,) = llm.get_tool_calls_from_response(legacy)

    assert (call.tool_id, call.tool_name, call.tool_kwargs) == ("x", "add", {"a": 1})


def test_a_response_without_tool_calls_raises_only_when_asked_to() -> None:
    """No tool call: ValueError with error_on_no_tool_call, else an empty list."""
    llm = FallbackLLM([ScriptedLLM()])
    plain = ChatResponse(message=ChatMessage(role="assistant", content="hello"))

    assert llm.get_tool_calls_from_response(plain, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="tool call"):
        llm.get_tool_calls_from_response(plain)


def test_a_tool_call_message_can_be_sent_back_to_any_hop(drive: Drive) -> None:
    """The assistant message holding a tool call uses provider-neutral ToolCallBlocks."""
    llm = FallbackLLM([ScriptedLLM(tool_calls=MULTIPLY)])

    response = drive.chat_with_tools(llm, TOOLS, user_msg="6 x 7?")

    blocks = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    assert [(b.tool_name, b.tool_call_id) for b in blocks] == [("multiply", "call_0")]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_structured_predict_returns_the_model_from_the_serving_hop(mode: str) -> None:
    """structured_predict on a function-calling chain fills the pydantic model via a tool call."""
    tool = (("Album", ALBUM),)
    llm = FallbackLLM(
        [ScriptedLLM(fail(ConnectionError("down")), tool_calls=tool), ScriptedLLM(tool_calls=tool)]
    )
    prompt = PromptTemplate("Name an album about {topic}.")

    if mode == "sync":
        album = llm.structured_predict(Album, prompt, topic="the sea")
    else:
        album = asyncio.run(llm.astructured_predict(Album, prompt, topic="the sea"))

    assert album == Album(**ALBUM)


def test_structured_predict_without_function_calling_parses_the_continued_text() -> None:
    """On a chain that is not function-calling the JSON answer is parsed, even if continued."""
    text = '{"title": "Blue", "year": 1971}'
    hops = [
        ScriptedLLM(cut(2), answer=text, function_calling=False),
        ScriptedLLM(answer=text, function_calling=False),
    ]
    llm = FallbackLLM(hops)

    album = llm.structured_predict(Album, PromptTemplate("Name an album about {topic}."), topic="x")

    assert album == Album(**ALBUM)


def test_as_structured_llm_answers_with_the_model() -> None:
    """as_structured_llm wraps the FallbackLLM and returns the pydantic object in raw."""
    llm = FallbackLLM(
        [
            ScriptedLLM(fail(ConnectionError("down")), tool_calls=(("Album", ALBUM),)),
            ScriptedLLM(tool_calls=(("Album", ALBUM),)),
        ]
    )

    response = llm.as_structured_llm(Album).chat(user("Name an album."))

    assert response.raw == Album(**ALBUM)


def test_a_hop_that_cannot_use_tools_is_passed_over(drive: Drive) -> None:
    """In a chat with tools, an LLM that is not function-calling fails and the next answers."""
    llm = FallbackLLM([MockLLM(), ScriptedLLM(model="b", tool_calls=MULTIPLY)])

    response = drive.chat_with_tools(llm, TOOLS, user_msg="6 x 7?")

    attempts = response.additional_kwargs["fallback"]["attempts"]
    assert [(a["hop"], a["outcome"]) for a in attempts] == [("MockLLM", "failed"), ("b", "ok")]
    assert [c.tool_name for c in llm.get_tool_calls_from_response(response)] == ["multiply"]
