"""From the LLMs a `FallbackLLM` is given to a validated core `Chain`.

Each LLM becomes a `fallback_core.Hop` around an `LLMTarget`. Two things a hop
assumes about its LLM are decided per LLM class here, and can be overridden
per LLM with `LLMHop`:

- ``require_finish``: whether the LLM's stream reliably reports a finish
  reason. Only then can a stream that ends quietly be told apart from a
  complete answer. OpenAI and every OpenAI-compatible client (``OpenAILike``)
  do: their ``raw`` chunk carries ``choices[0].finish_reason``. So does
  ``Anthropic`` from llama-index-llms-anthropic 0.10.2 on, which yields the
  ``message_delta`` event carrying ``stop_reason`` (earlier versions drop it,
  and are not relied on). Other classes are not relied on (``CustomLLM`` and
  ``MockLLM`` never report one); their broken streams are still caught when
  they raise or stall.
- ``continuation``: ``"prefill"`` for LLMs that continue a final assistant
  message (Anthropic's Claude; Ollama, ollama/ollama#6778) and for completion
  models (they continue text natively); ``"instruct"`` otherwise, OpenAI and
  ``OpenAILike`` included - for an OpenAI-compatible server set it per hop:
  ``"continue_final_message"`` for vLLM, ``"prefill"`` for a llama.cpp server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llama_index.core.base.llms.types import LLMMetadata, MessageRole
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.core.llms import LLM

from fallback_core import Chain, ConfigurationError, Hop, Tier
from fallback_core._toolkit import ChainOptions, HopOptions, endpoint_of, first

from ._target import LLMRequest, LLMTarget, model_name
from ._traits import class_traits

__all__ = [
    "BuiltChain",
    "LLMHop",
    "build_chain",
]


@dataclass(frozen=True, slots=True)
class LLMHop(HopOptions):
    """One LLM in a `FallbackLLM` with settings of its own.

    Fields left None take the `FallbackLLM`'s defaults (the time limits) or
    what is known about the LLM's class (``continuation``, ``require_finish``;
    ``context_window`` from its metadata). Time limits are in seconds;
    ``max_attempts`` caps attempts on this LLM per call; ``weight`` is its
    share of traffic inside a `fallback_core.Tier` (default 1). ``stream_usage``:
    whether each call asks the LLM to stream its token usage (None: LLMs of
    the OpenAI family are asked, with ``stream_options``; False: never, for
    an endpoint that refuses the option).
    """

    llm: LLM
    stream_usage: bool | None = None


@dataclass(frozen=True, slots=True)
class BuiltChain:
    """A validated chain, its LLMs in order, and the metadata a `FallbackLLM` reports."""

    chain: Chain[LLMRequest]
    llms: tuple[LLM, ...]
    metadata: LLMMetadata


def build_chain(llms: object, settings: ChainOptions) -> BuiltChain:
    """Validate ``llms`` and build their chain; raise `ConfigurationError` naming the field.

    ``llms`` holds LLMs, `LLMHop`s, and `fallback_core.Tier`s of either.
    """
    if isinstance(llms, (LLM, LLMHop, Tier)):
        raise ConfigurationError(
            "llms",
            f"got a single {type(llms).__name__}",
            "a list of LLMs, primary first, e.g. FallbackLLM([primary, backup])",
        )
    if isinstance(llms, (str, bytes)) or not isinstance(llms, Sequence):
        raise ConfigurationError("llms", f"got {type(llms).__name__}", "a list of LLMs")
    if not llms:
        raise ConfigurationError("llms", "the chain is empty", "at least one LLM")
    places: list[Hop[LLMRequest] | Tier[LLMRequest]] = []
    metadata: list[LLMMetadata] = []
    for i, item in enumerate(llms):
        if not isinstance(item, Tier):
            hop, meta = _hop(f"llms[{i}]", item, settings)
            places.append(hop)
            metadata.append(meta)
            continue
        if isinstance(item.hops, (str, bytes)) or not isinstance(item.hops, Sequence):
            raise ConfigurationError(f"llms[{i}].hops", "no deployments", "a list of LLMs")
        members = [_hop(f"llms[{i}].hops[{j}]", m, settings) for j, m in enumerate(item.hops)]
        places.append(Tier([hop for hop, _ in members], name=item.name))
        metadata += [meta for _, meta in members]
    chain = settings.chain(places, "llms")
    targets = [h.target for h in chain.hops]
    return BuiltChain(
        chain,
        tuple(t.llm for t in targets if isinstance(t, LLMTarget)),
        _chain_metadata(chain, metadata),
    )


def _hop(where: str, item: object, settings: ChainOptions) -> tuple[Hop[LLMRequest], LLMMetadata]:
    spec = item if isinstance(item, LLMHop) else LLMHop(llm=item)  # type: ignore[arg-type]
    if not isinstance(spec.llm, LLM):
        raise ConfigurationError(
            where,
            f"{type(spec.llm).__name__} is not a LlamaIndex LLM",
            "an instance of llama_index.core.llms.LLM, or an LLMHop holding one"
            + ("" if ".hops[" in where else ", or a fallback_core.Tier of them"),
        )
    try:
        meta = spec.llm.metadata
    except Exception as exc:
        raise ConfigurationError(
            f"{where}.metadata", f"{type(exc).__name__}: {exc}", "an LLM whose metadata loads"
        ) from exc
    traits = class_traits(spec.llm, meta)
    continuation = first(spec.continuation, traits.continuation)
    own = getattr(spec.llm, "additional_kwargs", None)
    if continuation == "continue_final_message" and isinstance(own, dict) and "extra_body" in own:
        raise ConfigurationError(
            f"{where}.continuation",
            "'continue_final_message' sends its flags in extra_body, which the LLM's "
            "additional_kwargs['extra_body'] would replace",
            "continuation='prefill' with continue_final_message=True and "
            "add_generation_prompt=False added to that extra_body",
        )
    hop = spec.hop(
        LLMTarget(spec.llm, meta, stream_usage=spec.stream_usage),
        name=spec.name,
        model=model_name(meta),
        identity=identity_for(spec.llm, meta),
        limits=settings.limits,
        context_window=meta.context_window,
        continuation=continuation,
        require_finish=traits.require_finish,
    )
    return hop, meta


# Attributes where LLM classes keep the endpoint they call.
_ENDPOINT_ATTRIBUTES = ("api_base", "base_url", "azure_endpoint", "endpoint")


def identity_for(llm: LLM, meta: LLMMetadata) -> str:
    """The deployment ``llm`` calls - provider, model and endpoint - for shared health."""
    endpoint = endpoint_of(llm, _ENDPOINT_ATTRIBUTES)
    return f"{llm.class_name()}/{model_name(meta) or type(llm).__name__}@{endpoint}"


def _chain_metadata(chain: Chain[LLMRequest], metadata: Sequence[LLMMetadata]) -> LLMMetadata:
    """Metadata every hop can honour: the smallest context window, the largest output."""
    windows = [h.context_window for h in chain.hops if h.context_window]
    outputs = [m.num_output for m in metadata if m.num_output > 0]
    roles = {m.system_role for m in metadata}
    return LLMMetadata(
        context_window=min(windows) if windows else DEFAULT_CONTEXT_WINDOW,
        num_output=max(outputs) if outputs else -1,
        is_chat_model=all(m.is_chat_model for m in metadata),
        is_function_calling_model=all(m.is_function_calling_model for m in metadata),
        model_name=f"fallback({', '.join(str(h.name) for h in chain.hops)})",
        system_role=roles.pop() if len(roles) == 1 else MessageRole.SYSTEM,
    )
