"""The streamed responses a FallbackLLM gives: the hop's own where they are already right."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    LogProb,
    TextBlock,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

from llamaindex_fallback import FallbackLLM
from tests.llamaindex.conftest import Drive, user

WORDS = ("One", " answer,", " streamed.")
FINISH = {"choices": [{"finish_reason": "stop"}]}


class Replaying(CustomLLM):
    """An LLM whose every stream yields ``chats`` (as chat responses) or ``completions``."""

    _chats: list[ChatResponse] = PrivateAttr(default_factory=list)
    _completions: list[CompletionResponse] = PrivateAttr(default_factory=list)

    def __init__(
        self, chats: Sequence[ChatResponse], completions: Sequence[CompletionResponse] = ()
    ) -> None:
        super().__init__()
        self._chats, self._completions = list(chats), list(completions)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(model_name="replaying")

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chats[-1]

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        yield from self._chats

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        async def responses() -> ChatResponseAsyncGen:
            for response in self._chats:
                yield response

        return responses()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._completions[-1]

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        yield from self._completions

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        async def responses() -> CompletionResponseAsyncGen:
            for response in self._completions:
                yield response

        return responses()


def chats(**extra: Any) -> list[ChatResponse]:
    """The hop's cumulative responses for `WORDS`, the last one finishing; ``extra`` on each."""
    return [
        ChatResponse(
            message=ChatMessage(role="assistant", blocks=[TextBlock(text="".join(WORDS[: i + 1]))]),
            delta=word,
            raw=FINISH if i == len(WORDS) - 1 else {"n": i},
            **extra,
        )
        for i, word in enumerate(WORDS)
    ]


def completions(**extra: Any) -> list[CompletionResponse]:
    return [
        CompletionResponse(
            text="".join(WORDS[: i + 1]),
            delta=word,
            raw=FINISH if i == len(WORDS) - 1 else {"n": i},
            **extra,
        )
        for i, word in enumerate(WORDS)
    ]


def test_a_healthy_hops_plain_chat_responses_are_passed_on_as_sent(drive: Drive) -> None:
    """A streamed chat response that already is the one to give is the hop's own object."""
    sent = chats()
    llm = FallbackLLM([Replaying(sent)])

    responses = drive.stream_chat(llm, user())

    assert all(ours is theirs for ours, theirs in zip(responses[:-1], sent, strict=True))
    assert responses[-1].message.content == "".join(WORDS)
    assert responses[-1].additional_kwargs["fallback"]["served_by"] == "replaying"


def test_a_healthy_hops_plain_completions_are_passed_on_as_sent(drive: Drive) -> None:
    """A streamed completion that already is the one to give is the hop's own object."""
    sent = completions()
    llm = FallbackLLM([Replaying([], sent)])

    responses = drive.stream_complete(llm, "Say it.")

    assert all(ours is theirs for ours, theirs in zip(responses[:-1], sent, strict=True))
    assert responses[-1].text == "".join(WORDS)


def test_a_chat_response_carrying_more_is_rebuilt_with_what_the_stream_promises(
    drive: Drive,
) -> None:
    """A hop's log probabilities, token counts and message kwargs are not passed on per chunk."""
    logprobs = [[LogProb(token="x", logprob=-0.1)]]
    sent = chats(logprobs=logprobs, additional_kwargs={"prompt_tokens": 3})
    for response in sent:
        response.message.additional_kwargs["hop_only"] = True
    llm = FallbackLLM([Replaying(sent)])

    responses = drive.stream_chat(llm, user())

    for ours, theirs in zip(responses[:-1], sent, strict=True):
        assert ours is not theirs
        assert (ours.message.content, ours.delta, ours.raw) == (
            theirs.message.content,
            theirs.delta,
            theirs.raw,
        )
        assert ours.logprobs is None
        assert ours.additional_kwargs == {}
        assert ours.message.additional_kwargs == {}


def test_a_completion_carrying_more_is_rebuilt_with_what_the_stream_promises(
    drive: Drive,
) -> None:
    """A hop's log probabilities and kwargs on a completion are not passed on per chunk."""
    sent = completions(logprobs=[[LogProb(token="x")]], additional_kwargs={"total_tokens": 9})
    llm = FallbackLLM([Replaying([], sent)])

    responses = drive.stream_complete(llm, "Say it.")

    for ours, theirs in zip(responses[:-1], sent, strict=True):
        assert ours is not theirs
        assert (ours.text, ours.delta, ours.raw) == (theirs.text, theirs.delta, theirs.raw)
        assert (ours.logprobs, ours.additional_kwargs) == (None, {})
