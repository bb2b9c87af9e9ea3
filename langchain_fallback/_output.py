"""What the caller receives: one chunk per delta, then a single final chunk.

Only the final chunk carries metadata, so merging the chunks never repeats
it: ``chunk_position="last"``, usage merged over every attempt,
``response_metadata["model_name"]`` (the model that served, as its provider
named it), ``finish_reason``, and ``response_metadata["fallback"]``, the call's
trace. Tool calls keep one index each in the caller's stream, even when two
hops numbered theirs from zero.

Reasoning arrives as ``thinking`` content blocks (ChatAnthropic's shape, so
the message can go back to an Anthropic model as it came): one block per
attempt, so two attempts' thinking never merge into one, with the serving
model's signature on its own block. Once reasoning has come, text comes as a
text block too, one for the whole answer.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.messages.tool import ToolCallChunk as LCToolCallChunk
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk

from fallback_core import ChainTrace, Delta

from ._hops import FINISH_KEYS
from ._target import CallLog, HopChunk

__all__ = ["TRACE_KEY", "OutputBuilder"]

TRACE_KEY = "fallback"
"""The ``response_metadata`` key holding the call's trace (`ChainTrace.to_dict`)."""

# Keys of the serving hop's metadata that describe that hop's stream or reply, not the
# answer (a whole reply's own token counts: the answer's usage is summed over attempts).
_DROPPED = frozenset(
    {*FINISH_KEYS, "model", "model_name", "model_provider", "output_version"}
    | {"token_usage", "usage"}
)


# A chunk of content alone (no tool calls, no metadata) is what every validator of
# the two classes leaves as given, so it is made as a copy of these, its fields written
# in place (``model_copy`` would mark the defaults as set): equal, field for field and
# in its fields set, to what the validating constructors make
# (tests/langchain/test_output.py), in under half their time - once per streamed chunk.
_EMPTY = AIMessageChunk(content="", tool_call_chunks=[])
_EMPTY_GENERATION = ChatGenerationChunk(message=_EMPTY)


def _plain_chunk(content: str | list[str | dict[str, Any]]) -> ChatGenerationChunk:
    """``ChatGenerationChunk(message=AIMessageChunk(content=content))``, unvalidated."""
    message = _EMPTY.__copy__()
    fields = message.__dict__
    fields["content"] = content
    fields["additional_kwargs"] = {}
    fields["response_metadata"] = {}
    fields["tool_calls"] = []
    fields["invalid_tool_calls"] = []
    fields["tool_call_chunks"] = []
    generation = _EMPTY_GENERATION.__copy__()
    generation.__dict__["message"] = message
    generation.__dict__["text"] = message.text
    return generation


class OutputBuilder:
    """Turns one call's deltas into the caller's chunks."""

    def __init__(self, log: CallLog) -> None:
        self._log = log
        self._tool_index: dict[tuple[int | None, int], int] = {}
        self._blocks: dict[object, int] = {}  # content-block index per attempt's thinking, text

    def chunk(self, delta: Delta) -> ChatGenerationChunk:
        """The caller's chunk for one delta: its text and tool-call fragments only."""
        attempt = delta.native.attempt if isinstance(delta.native, HopChunk) else None
        content = self._content(delta, attempt)
        if not delta.tool_calls:
            return _plain_chunk(content)
        calls: list[LCToolCallChunk] = []
        for call in delta.tool_calls:
            index = self._tool_index.setdefault((attempt, call.index), len(self._tool_index))
            calls.append(
                tool_call_chunk(name=call.name, args=call.arguments, id=call.id, index=index)
            )
        return ChatGenerationChunk(message=AIMessageChunk(content=content, tool_call_chunks=calls))

    def _content(self, delta: Delta, attempt: int | None) -> str | list[str | dict[str, Any]]:
        """The text as a string, or - once reasoning has come - content blocks."""
        if not (delta.reasoning or delta.signature or self._blocks):
            return str(delta.text)  # a plain str, as validation would leave it
        blocks: list[str | dict[str, Any]] = []
        if delta.reasoning or delta.signature:
            index = self._blocks.setdefault(("thinking", attempt), len(self._blocks))
            block: dict[str, Any] = {"type": "thinking", "thinking": delta.reasoning}
            if delta.signature:
                block["signature"] = delta.signature
            blocks.append({**block, "index": index})
        if delta.text:
            index = self._blocks.setdefault("text", len(self._blocks))
            blocks.append(
                {"type": "text", "text": str(delta.text), "index": index}
            )  # a plain str: merging checks types
        return blocks

    def final(self, trace: ChainTrace) -> ChatGenerationChunk:
        """The last chunk: usage, the serving model, finish reason and the trace."""
        served = self._log.last_attempt(trace.served_by)
        metadata: dict[str, Any] = {}
        if served is not None:
            metadata = {k: v for k, v in served.response_metadata.items() if k not in _DROPPED}
        metadata["model_name"] = (served.model if served else None) or trace.served_model
        # The chain judged the answer complete, so a finish reason is always reported.
        metadata["finish_reason"] = trace.finish_reason or "stop"
        metadata[TRACE_KEY] = trace.to_dict()
        message = AIMessageChunk(
            content=[] if self._blocks else "",  # content blocks do not merge with a string
            chunk_position="last",
            usage_metadata=self._log.usage(),
            response_metadata=metadata,
        )
        return ChatGenerationChunk(message=message)
