"""What each chat model in a chain is: its hop name, limits and per-class behaviour.

Two behaviours depend on the model class and can be overridden per model with
`ChatHop`:

- ``continuation``: models whose provider continues a final assistant
  message - Anthropic's, and Ollama's (a trailing assistant message is
  continued, ollama/ollama#6778) - continue a broken answer by prefill; every
  other model, OpenAI's included (its API answers a final assistant message
  with a new message), is sent the partial answer plus an instruction to
  continue it. An OpenAI-compatible server is not recognisable by class: give
  its hop ``continuation="continue_final_message"`` for vLLM, ``"prefill"`` for
  a llama.cpp server (it continues a trailing assistant message by default).
- ``require_finish``: a stream that ends without a finish reason counts as
  truncated only for model classes known to report one when they stream.
  Any other class would have every answer judged broken, so for them the end
  of the stream is taken as the end of the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from fallback_core import Strategy
from fallback_core._toolkit import HopLimits, HopOptions, endpoint_of

__all__ = [
    "FINISH_KEYS",
    "ChatHop",
    "HopDefaults",
    "context_window_for",
    "continuation_for",
    "identity_for",
    "model_name",
    "requires_finish",
]

# Classes (matched anywhere in a model's MRO, by name, so no provider package is
# imported) that accept a final assistant message and continue it.
_PREFILL_CLASSES = frozenset({"ChatAnthropic", "ChatAnthropicVertex", "ChatOllama"})

# Classes whose streams end with a finish reason in ``response_metadata``.
_FINISH_REPORTING_CLASSES = frozenset(
    {
        "BaseChatOpenAI",  # ChatOpenAI, AzureChatOpenAI, ChatDeepSeek, ChatXAI, ...
        "ChatAnthropic",
        "ChatAnthropicVertex",
        "ChatBedrockConverse",
        "ChatFireworks",
        "ChatGoogleGenerativeAI",
        "ChatGroq",
        "ChatMistralAI",
        "ChatOllama",
        "ChatVertexAI",
        "FallbackChatModel",
    }
)

# Where providers put the finish reason in a chunk's response_metadata.
FINISH_KEYS = ("finish_reason", "stop_reason", "done_reason", "stopReason", "finishReason")


@dataclass(frozen=True, slots=True)
class ChatHop(HopOptions):
    """A chat model with its own settings for its place in the chain.

    ``name`` names the hop in traces and events (default: the model name).
    ``timeout`` bounds one attempt, ``first_token_timeout`` the wait from
    sending the request to the first text or tool call, ``idle_timeout`` each
    later gap between chunks (None: the `FallbackChatModel`'s);
    ``max_attempts`` caps attempts on this hop per call; ``context_window``
    (tokens) lets a context-length failure skip hops no larger (default: the
    model profile's ``max_input_tokens``). ``continuation`` (``"prefill"``,
    ``"instruct"`` or ``"continue_final_message"``, for vLLM) and
    ``require_finish`` override what the model class implies; None keeps the
    class default. ``weight`` is the model's share of traffic inside a
    `fallback_core.Tier` (default 1).
    """

    model: BaseChatModel


@dataclass(frozen=True, slots=True)
class HopDefaults(HopLimits):
    """Limits a `FallbackChatModel` applies to every hop that does not set its own."""

    max_attempts: int | None = None


def _class_names(model: object) -> set[str]:
    return {cls.__name__ for cls in type(model).__mro__}


def continuation_for(model: BaseChatModel) -> Strategy:
    """How ``model`` continues an answer another model left unfinished."""
    return "prefill" if _class_names(model) & _PREFILL_CLASSES else "instruct"


def requires_finish(model: BaseChatModel) -> bool:
    """Whether ``model``'s stream is known to end with a finish reason."""
    return bool(_class_names(model) & _FINISH_REPORTING_CLASSES)


def model_name(model: BaseChatModel) -> str | None:
    """The model name ``model`` is configured with, if it has one."""
    for attribute in ("model_name", "model", "model_id", "deployment_name"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return None


def context_window_for(model: BaseChatModel) -> int | None:
    """The input-token limit from ``model``'s profile, if it states one."""
    profile: Mapping[str, Any] | None = getattr(model, "profile", None)
    if not isinstance(profile, Mapping):
        return None
    window = profile.get("max_input_tokens")
    return window if isinstance(window, int) and window > 0 else None


# Attributes where chat model classes keep the endpoint they call.
_ENDPOINT_ATTRIBUTES = (
    "openai_api_base",
    "azure_endpoint",
    "anthropic_api_url",
    "base_url",
    "endpoint_url",
    "api_base",
)


def identity_for(model: BaseChatModel) -> str:
    """The deployment ``model`` calls - provider, model and endpoint - for shared health."""
    endpoint = endpoint_of(model, _ENDPOINT_ATTRIBUTES)
    return f"{model._llm_type}/{model_name(model) or type(model).__name__}@{endpoint}"
