"""Reasoning through a `FallbackLLM`: read from each hop's stream, rebuilt for the caller.

LlamaIndex's LLMs stream their thinking as ``thinking_delta`` - in the
response's ``additional_kwargs`` (``OpenAI``, ``OpenAILike``: the server's
``reasoning_content``) or its message's (``Anthropic``) - and keep it in a
``ThinkingBlock`` of the message, whose ``additional_information["signature"]``
is Anthropic's seal. The caller gets the same: each streamed response that
brings reasoning carries its ``thinking_delta`` (what ``FunctionAgent`` puts
in its ``AgentStream`` events), and the message opens with one
``ThinkingBlock`` per attempt that reasoned - never two attempts' thinking in
one block - holding the serving hop's signature and, in
``additional_information["model"]``, the model that wrote it, so the next
turn gives it back to that model only (see `llamaindex_fallback._history`).
A continuing hop's reasoning never arrives (the core drops it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llama_index.core.base.llms.types import ChatResponse, CompletionResponse, ThinkingBlock

from fallback_core import Delta

__all__ = ["THINKING_DELTA", "WRITER_KEY", "ThinkingReader", "Thoughts"]

THINKING_DELTA = "thinking_delta"
WRITER_KEY = "model"


class ThinkingReader:
    """One hop stream's reasoning and signature, as the deltas of its cumulative responses."""

    __slots__ = ("_sealed",)

    def __init__(self) -> None:
        self._sealed = ""  # the signatures seen so far, joined

    def read(
        self, response: ChatResponse | CompletionResponse, *, blocks: bool = True
    ) -> tuple[str, str]:
        """What ``response`` adds: its reasoning text, and any new signature.

        ``blocks=False``: the message is known to hold no ``ThinkingBlock``
        (so no new signature).
        """
        reasoning = response.additional_kwargs.get(THINKING_DELTA)
        if not isinstance(response, ChatResponse):
            return (reasoning if isinstance(reasoning, str) else ""), ""
        if not reasoning:
            reasoning = response.message.additional_kwargs.get(THINKING_DELTA)
        if not blocks:
            return (reasoning if isinstance(reasoning, str) else ""), ""
        sealed = "".join(
            str(block.additional_information.get("signature") or "")
            for block in response.message.blocks
            if isinstance(block, ThinkingBlock)
        )
        signature = ""
        if sealed.startswith(self._sealed) and sealed != self._sealed:
            signature, self._sealed = sealed[len(self._sealed) :], sealed
        return (reasoning if isinstance(reasoning, str) else ""), signature


@dataclass(slots=True)
class _Thought:
    model: str | None
    parts: list[str] = field(default_factory=list)
    signature: str = ""


class Thoughts:
    """The reasoning delivered so far, one thought per attempt, and the latest delta's."""

    __slots__ = ("_by_attempt", "latest")

    def __init__(self) -> None:
        self._by_attempt: dict[int, _Thought] = {}
        self.latest = ""

    def add(self, delta: Delta, attempt: int) -> None:
        """Take one delivered delta of ``attempt``."""
        self.latest = delta.reasoning
        if not (delta.reasoning or delta.signature):
            return
        thought = self._by_attempt.setdefault(attempt, _Thought(delta.model))
        thought.parts.append(delta.reasoning)
        thought.signature += delta.signature

    @property
    def any(self) -> bool:
        """Whether any reasoning has come, or the latest delta carries some."""
        return bool(self._by_attempt or self.latest)

    def blocks(self) -> list[ThinkingBlock]:
        """A ``ThinkingBlock`` per attempt that reasoned, in the order they came."""
        blocks = []
        for thought in self._by_attempt.values():
            information: dict[str, object] = {WRITER_KEY: thought.model}
            if thought.signature:
                information["signature"] = thought.signature
            blocks.append(
                ThinkingBlock(content="".join(thought.parts), additional_information=information)
            )
        return blocks
