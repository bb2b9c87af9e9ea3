"""The values the core speaks: deltas in, deltas out, and what a hop target is.

Adapters convert their framework's chunks to `Delta` and back; the core reads
only text, reasoning, tool-call fragments, finish reason, usage and model
name, and carries the adapter's own chunk along untouched in ``native``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

__all__ = [
    "AttemptOutcome",
    "CallOutcome",
    "Continuation",
    "Delta",
    "SeamFix",
    "Strategy",
    "Target",
    "TimeoutPhase",
    "ToolCallChunk",
    "Usage",
    "rough_tokens",
    "unique_name",
]

RequestT_contra = TypeVar("RequestT_contra", contravariant=True)

Strategy = Literal["prefill", "instruct", "continue_final_message"]
"""How a hop is asked to continue an answer another hop left unfinished (see `Continuation`)."""

AttemptOutcome = Literal["ok", "failed", "hedge_lost", "cancelled"]
"""How one attempt ended: it served, it failed, a hedge's rival outran it, or the call stopped."""

CallOutcome = Literal["ok", "failed", "cancelled"]
"""How a call ended: an answer finished, it raised, or the caller stopped listening."""

TimeoutPhase = Literal["attempt", "deadline", "deadline_share", "first_token", "idle"]
"""Which time limit a read ran out of (see `StreamTimeoutError`)."""

SeamFix = Literal["collapsed-space", "inserted-space", "merged-newlines"]
"""The whitespace fix made where a continuation joined the answer."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts; adding two merges them (None stays None only if both are)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            _add(self.input_tokens, other.input_tokens),
            _add(self.output_tokens, other.output_tokens),
            _add(self.total_tokens, other.total_tokens),
        )


def _add(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


@dataclass(frozen=True, slots=True)
class ToolCallChunk:
    """A fragment of one tool call, OpenAI-style: fragments with the same index join."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class Delta:
    """One increment of an answer.

    ``finish_reason`` is set on the chunk that ends the answer (``"stop"``,
    ``"length"``, ``"tool_calls"``, ...); a stream that ends without one is
    truncated. ``usage`` is additive across a hop's deltas. ``native`` is the
    adapter's own chunk, opaque to the core: provider state such as a
    thinking block's signature stays there, for the adapter alone.

    ``reasoning`` is the model's thinking (Anthropic's thinking blocks,
    ``reasoning_content`` of vLLM / DeepSeek), passed to the caller from the
    hop that produced it and never part of the answer: it is not text a
    continuation carries or a check reads. It proves the hop alive (it counts
    as a first token and keeps an idle timeout at bay), but a continuing hop's
    reasoning is dropped - it thought about finishing someone else's text,
    not about the caller's question - and a hedge loser's never arrives.
    ``signature`` is the provider's seal over the reasoning (Anthropic's
    ``signature_delta``), opaque to the core: it travels with the reasoning.
    """

    text: str = ""
    reasoning: str = ""
    signature: str = ""
    tool_calls: tuple[ToolCallChunk, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    native: Any = None


@dataclass(frozen=True, slots=True)
class Continuation:
    """How a hop should continue an answer another hop left unfinished.

    ``text`` is what the caller already received. With ``"instruct"`` the
    request ends with an assistant message holding it and a user message
    holding ``instruction``. With ``"prefill"`` the request ends with the
    assistant message, which the provider continues (Anthropic, a llama.cpp
    server); ``"continue_final_message"`` is a prefill that the request also
    flags with ``continue_final_message=true, add_generation_prompt=false``
    (vLLM, and servers built on transformers' chat templates, need both). The
    caller's own messages, system prompt included, are sent unchanged before them.
    ``max_tokens``, when the caller capped the answer, is what is left of that
    cap: the continuation asks for at most that many tokens, so the whole
    answer keeps the caller's limit.
    """

    text: str
    strategy: Strategy
    instruction: str
    max_tokens: int | None = None

    @property
    def prefill(self) -> bool:
        """Whether the hop continues the final assistant message itself (no instruction)."""
        return self.strategy != "instruct"

    @property
    def message(self) -> str:
        """The partial answer as the request's assistant message.

        A prefill goes without its trailing whitespace: Anthropic refuses a
        final assistant message ending in whitespace (400 "final assistant
        content cannot end with trailing whitespace"), and chat templates
        commonly trim it anyway, so every hop continues from the same point and
        the seam knows the whitespace it may write again.
        """
        return self.text.rstrip() if self.prefill else self.text

    @property
    def flags(self) -> Mapping[str, bool]:
        """Request options the strategy needs besides the messages (none but for vLLM's)."""
        return _FLAGS if self.strategy == "continue_final_message" else _NO_FLAGS


_FLAGS: Mapping[str, bool] = MappingProxyType(
    {"continue_final_message": True, "add_generation_prompt": False}
)
_NO_FLAGS: Mapping[str, bool] = MappingProxyType({})


@runtime_checkable
class Target(Protocol[RequestT_contra]):
    """Something a hop can call: the adapter's wrapper around one model.

    Both methods stream `Delta` values for ``request``; ``continuation`` is set
    when the answer is to be continued rather than started. Errors are raised
    as the provider raised them; the core classifies them.

    Optionally a target also offers ``estimate_tokens(request) -> int | None``:
    a hop whose ``context_window`` the estimate exceeds is skipped; and
    ``reports_requests = True`` when its client always reports its request
    sent (`request_sent`, e.g. through `watch_requests`): its first-token
    wait then starts only at that report.

    A target may also offer ``reply(request, continuation) -> Iterator[Delta]``
    and ``areply`` (both or neither): the same answer from the model's
    non-streaming API, as one delta or a few. A call made with ``whole=True``
    uses them on a hop whose stream nothing needs (`Chain.stream`).
    """

    def stream(
        self, request: RequestT_contra, continuation: Continuation | None
    ) -> Iterator[Delta]: ...

    def astream(
        self, request: RequestT_contra, continuation: Continuation | None
    ) -> AsyncIterator[Delta]: ...


def rough_tokens(*texts: str) -> int:
    """A cheap token estimate for ``texts`` (about four characters a token, plus a few a message).

    For `Target.estimate_tokens` when no tokenizer is at hand: close enough to
    skip a hop that clearly cannot take a prompt, never used to cut one.
    """
    return sum(len(text) // 4 + 4 for text in texts)


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base#2``, ``base#3``... the first not in ``taken``, which it joins."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}#{n}"
    taken.add(name)
    return name
