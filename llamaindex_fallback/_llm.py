"""`FallbackLLM`: a LlamaIndex LLM that is an ordered chain of LLMs.

Every call - chat, complete, their streaming and async forms, and the tool and
structured-output methods built on them - walks the chain: when an LLM fails
before or during its answer, the next one takes over, and a broken stream is
continued rather than restarted. Non-streaming calls take each hop's whole
reply (its non-streaming call) where the hop has no stall limits, else fold
its stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import LLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from pydantic import SkipValidation

from fallback_core import Chain, ConfigurationError, Health, Hook, Policy, Tier
from fallback_core._toolkit import (
    DEFAULTS,
    POLICY_FIELDS,
    ChainOptions,
    HopLimits,
    find_cycle,
    policy_from,
)

from ._calls import Call, chat_request, completion_request
from ._hops import BuiltChain, LLMHop, build_chain
from ._responses import Answer
from ._target import LLMRequest
from ._tools import TOOLS_KEY, keep_first_tool_call, pack_tools, tool_selections
from ._warnings import warn_about_function_calling, warn_about_inner_retries

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["FallbackLLM"]


_OWN_OPTIONS = frozenset(
    {"continue_instruction", "first_token_timeout", "health", "hooks", "idle_timeout", "timeout"}
)


class FallbackLLM(FunctionCallingLLM):
    """An LLM that tries ``llms`` in order until one finishes the answer.

    ``llms`` holds LlamaIndex LLMs, `LLMHop`s for per-LLM settings, and
    `fallback_core.Tier`s of equivalent deployments sharing one place (each
    call picks one by ``LLMHop.weight``, and tries the others of the tier
    before moving on). Failure
    handling is a `fallback_core.Policy`, given as ``policy=`` or as its
    fields (``deadline=``, ``max_attempts=``, ``rules=``, ...). For every LLM
    that sets none of its own, ``first_token_timeout`` (default 60 s) bounds
    the wait from sending its request to its first text or tool call,
    ``idle_timeout`` (default 30 s) each later gap between chunks and
    ``timeout`` (default none) one whole attempt; None lifts a limit. With a
    ``deadline`` each LLM waits for its first text at most its share of what
    is left, so the backups are always tried. ``hooks`` receive the chain's
    telemetry events.
    ``health`` (a `fallback_core.Health`, shareable) skips LLMs whose circuit
    is open; each LLM's identity is its class, model name and endpoint.
    Other keywords are the usual ``LLM`` fields (``system_prompt``,
    ``callback_manager``, ...). Bad input raises
    `fallback_core.ConfigurationError` naming the field.

    Streaming follows LlamaIndex: each response holds the whole answer so far
    and the new ``delta``, text from earlier LLMs included; a closing response
    (``delta=""``) carries the trace in ``additional_kwargs["fallback"]``
    (serving hop and model, every attempt, usage) and the merged token counts.

    Retries: the chain's policy decides them. An LLM's own client retries too
    (``max_retries``; OpenAI's and Anthropic's SDKs wait out 429s and 5xx
    before any byte arrives), inside one chain attempt and before the chain
    sees the failure, so they only delay the fallback: build the LLMs with
    ``max_retries=0`` (an `InnerRetriesWarning` says which do not). A stream
    that breaks mid-answer is never retried by a client. LlamaIndex's own
    retry decorators wrap non-streaming calls only: they run on a whole
    reply, which a non-streamed call takes from each LLM with no
    ``first_token_timeout`` and no ``idle_timeout`` (no continuation and no
    stall detection then; ``timeout`` and ``deadline`` still bound it).

    Instrumentation: every call emits the standard LLM events once, for this
    LLM, and a `FallbackHopEvent` per step of the walk, in the call's span.
    Each LLM it tries emits its own standard events for its attempt, in a
    span of its own whose parent is the call's span.
    """

    llms: SkipValidation[tuple[LLM | LLMHop | Tier[Any], ...]] = Field(
        description="The LLMs tried in order.", exclude=True
    )

    _built: BuiltChain = PrivateAttr()
    _settings: ChainOptions = PrivateAttr()

    def __init__(
        self,
        llms: Sequence[LLM | LLMHop | Tier[Any]],
        *,
        policy: Policy | None = None,
        hooks: Sequence[Hook] = (),
        continue_instruction: str = DEFAULTS.continue_instruction,
        timeout: float | None = DEFAULTS.limits.timeout,
        first_token_timeout: float | None = DEFAULTS.limits.first_token_timeout,
        idle_timeout: float | None = DEFAULTS.limits.idle_timeout,
        health: Health | None = None,
        **kwargs: Any,
    ) -> None:
        policy = policy_from(policy, kwargs)
        options = {*type(self).model_fields, *POLICY_FIELDS, *_OWN_OPTIONS} - {"llms"}
        for key in kwargs:
            if key not in type(self).model_fields or key == "llms":
                raise ConfigurationError.unknown(
                    key,
                    key,
                    options,
                    "option of FallbackLLM",
                    "provider options such as api_key or temperature belong on each LLM",
                )
        settings = ChainOptions(
            policy=policy,
            hooks=tuple(hooks) if isinstance(hooks, (list, tuple)) else hooks,
            continue_instruction=continue_instruction,
            limits=HopLimits(timeout, first_token_timeout, idle_timeout),
            health=health,
        )
        built = build_chain(llms, settings)
        super().__init__(llms=tuple(llms), **kwargs)
        self._settings = settings
        self._built = built
        warn_about_inner_retries(built)
        warn_about_function_calling(built)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "llms":
            super().__setattr__(name, value)
            return
        built = build_chain(value, self._settings)
        _check_no_cycle(self, value)
        super().__setattr__(name, tuple(value))
        self._built = built

    @classmethod
    def class_name(cls) -> str:
        return "FallbackLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """What every hop can serve: the smallest context window, the largest output."""
        return self._built.metadata

    @property
    def fallback_chain(self) -> Chain[LLMRequest]:
        """The core chain this LLM walks."""
        return self._built.chain

    # -- chat and completion --------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        answer, trace = self._chat(messages, kwargs).fold()
        return answer.chat(None, trace)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._chat(messages, kwargs).stream(Answer.chat)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        answer, trace = self._completion(prompt, formatted, kwargs).fold()
        return answer.completion(None, trace)

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        return self._completion(prompt, formatted, kwargs).stream(Answer.completion)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        answer, trace = await self._chat(messages, kwargs).afold()
        return answer.chat(None, trace)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return self._chat(messages, kwargs).astream(Answer.chat)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        answer, trace = await self._completion(prompt, formatted, kwargs).afold()
        return answer.completion(None, trace)

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        return self._completion(prompt, formatted, kwargs).astream(Answer.completion)

    # -- tools (chat_with_tools and its twins come from FunctionCallingLLM) ----

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return pack_tools(
            tools,
            user_msg,
            chat_history,
            verbose=verbose,
            allow_parallel_tool_calls=allow_parallel_tool_calls,
            tool_required=tool_required,
            **kwargs,
        )

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        return response if allow_parallel_tool_calls else keep_first_tool_call(response)

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The tool calls in ``response``, whichever hop produced it."""
        return tool_selections(
            response, self._built.llms, error_on_no_tool_call=error_on_no_tool_call
        )

    def _call(self, request: LLMRequest) -> Call:
        return Call(self._built.chain, self.metadata.model_name, request)

    def _chat(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> Call:
        return self._call(chat_request(messages, kwargs.pop(TOOLS_KEY, None), kwargs))

    def _completion(self, prompt: str, formatted: bool, kwargs: dict[str, Any]) -> Call:
        return self._call(completion_request(prompt, formatted, kwargs))


def _check_no_cycle(owner: FallbackLLM, llms: Sequence[object]) -> None:
    """Raise `ConfigurationError` if ``llms`` lead back to ``owner`` through nested chains."""
    i = find_cycle(
        owner,
        llms,
        lambda item: item.llm if isinstance(item, LLMHop) else item,
        lambda llm: llm.llms if isinstance(llm, FallbackLLM) else None,
    )
    if i is not None:
        raise ConfigurationError(
            f"llms[{i}]",
            "the chain contains itself",
            "LLMs that do not lead back to this FallbackLLM",
        )
