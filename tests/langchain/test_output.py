"""The caller's chunks, built without validation, are the chunks validation would build.

A chunk of content alone is copied from an empty one (`_output._plain_chunk`)
rather than validated; these tests hold it to the validating constructors: the
same fields, the same fields set, the same serialized form, and containers of
its own.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.load import dumpd
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from fallback_core import Delta
from langchain_fallback import FallbackChatModel
from langchain_fallback._output import OutputBuilder, _plain_chunk
from langchain_fallback._target import CallLog, HopChunk

from .fakes import ScriptedChatModel, ok

CONTENTS: list[str | list[str | dict[str, Any]]] = [
    "",
    "Paris",
    [{"type": "thinking", "thinking": "Hmm.", "index": 0}],
    [
        {"type": "thinking", "thinking": "", "signature": "sig", "index": 0},
        {"type": "text", "text": "Paris", "index": 1},
    ],
]


def _validated(content: str | list[str | dict[str, Any]]) -> ChatGenerationChunk:
    return ChatGenerationChunk(message=AIMessageChunk(content=content, tool_call_chunks=[]))


@pytest.mark.parametrize("content", CONTENTS, ids=["empty", "text", "thinking", "blocks"])
def test_a_plain_chunk_is_the_validated_chunk(content: str | list[str | dict[str, Any]]) -> None:
    fast, slow = _plain_chunk(content), _validated(content)
    assert fast == slow
    assert type(fast.text) is type(slow.text)
    assert fast.text == slow.text
    assert type(fast.message.content) is type(slow.message.content)
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.message.model_fields_set == slow.message.model_fields_set
    assert fast.model_dump() == slow.model_dump()
    assert dumpd(fast.message) == dumpd(slow.message)
    assert fast.message.content_blocks == slow.message.content_blocks
    assert fast + _plain_chunk("!") == slow + _validated("!")


def test_each_plain_chunk_has_containers_of_its_own() -> None:
    first, second = _plain_chunk("a"), _plain_chunk("b")
    first.message.additional_kwargs["seen"] = True
    first.message.response_metadata["seen"] = True
    first.message.tool_call_chunks.append({"name": "f", "args": "", "id": "1", "index": 0})
    assert second.message.additional_kwargs == {}
    assert second.message.response_metadata == {}
    assert second.message.tool_call_chunks == []
    assert _plain_chunk("c") == _validated("c")
    assert first.message is not second.message


def test_a_delta_of_a_text_subclass_gives_plain_str_content() -> None:
    """``message.text`` is a `str` subclass; validation turns it into a plain `str`."""
    text = AIMessageChunk(content="Paris").text
    assert type(text) is not str
    chunk = OutputBuilder(CallLog()).chunk(Delta(text=text, native=HopChunk(0, None)))  # type: ignore[arg-type]
    assert type(chunk.message.content) is str
    assert chunk == _validated("Paris")


def test_streamed_chunks_equal_validated_ones() -> None:
    model = FallbackChatModel([ScriptedChatModel(ok("The answer ", "is 42."))])
    chunks = list(model.stream("q"))
    assert [c.content for c in chunks[:-1]] == ["The answer ", "is 42."]
    for chunk in chunks[:-1]:
        assert chunk == AIMessageChunk(content=chunk.content, id=chunk.id)
