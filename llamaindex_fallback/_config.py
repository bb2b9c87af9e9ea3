"""`from_config`: a `FallbackLLM` for a named chain of a `fallback_core.config.ChainConfig`.

Each entry's provider names a LlamaIndex integration class, imported only
when an entry uses it; the entry's ``options`` are its keyword arguments.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Mapping
from typing import Any

from llama_index.core.llms import LLM

from fallback_core import ConfigurationError, Policy
from fallback_core._toolkit import from_config_options
from fallback_core.config import (
    ChainConfig,
    ModelEntry,
    Unresolvable,
    require_api_key,
)
from fallback_core.config._recipe import Recipe

from ._hops import LLMHop
from ._llm import FallbackLLM

__all__ = ["INTEGRATIONS", "from_config"]

logger = logging.getLogger("llamaindex_fallback")

#: Provider (as written in an entry, ``-`` read as ``_``) -> (module, class) of its integration.
INTEGRATIONS: Mapping[str, tuple[str, str]] = {
    "anthropic": ("llama_index.llms.anthropic", "Anthropic"),
    "azure_openai": ("llama_index.llms.azure_openai", "AzureOpenAI"),
    "bedrock_converse": ("llama_index.llms.bedrock_converse", "BedrockConverse"),
    "cohere": ("llama_index.llms.cohere", "Cohere"),
    "deepseek": ("llama_index.llms.deepseek", "DeepSeek"),
    "fireworks": ("llama_index.llms.fireworks", "Fireworks"),
    "google_genai": ("llama_index.llms.google_genai", "GoogleGenAI"),
    "groq": ("llama_index.llms.groq", "Groq"),
    "mistralai": ("llama_index.llms.mistralai", "MistralAI"),
    "ollama": ("llama_index.llms.ollama", "Ollama"),
    "openai": ("llama_index.llms.openai", "OpenAI"),
    "openai_compatible": ("llama_index.llms.openai_like", "OpenAILike"),
    "openai_like": ("llama_index.llms.openai_like", "OpenAILike"),
    "openrouter": ("llama_index.llms.openrouter", "OpenRouter"),
    "together": ("llama_index.llms.together", "TogetherLLM"),
}


def from_config(
    config: ChainConfig, alias: str, *, follow: bool = True, **options: Any
) -> FallbackLLM:
    """A `FallbackLLM` walking ``alias``'s entries, then ``config``'s default chain.

    Each entry is built as ``Class(model=<model>, **options)``, the class
    chosen by its provider (`INTEGRATIONS`: ``openai``, ``openai_like`` /
    ``openai-compatible``, ``anthropic``, ...), with ``max_retries=0`` unless
    the options say otherwise (the chain does the retrying). An entry whose
    integration package is missing, whose API key is unset, or whose class
    refuses its options or model is skipped with the reason
    (``ChainConfig.listeners`` hear it); if nothing is left,
    `fallback_core.config.NoUsableModelError` lists every skip.

    ``options`` are FallbackLLM's own (``hooks``, ``health`` - by default the
    configuration's `ChainConfig.health` - ``idle_timeout``, ...); Policy
    fields among them (``classify``, ``backoff``, ``deadline``, ``rules``, ...)
    override the configuration's policy. With ``follow`` the
    LLM is rebuilt in place after each reload that changes the configuration:
    calls already running finish on the chain they started with, and if the
    alias has no usable entry any more the LLM keeps its chain and a warning
    is logged.
    """
    overrides = from_config_options("llms", options, config.health)
    recipe = Recipe(
        config,
        alias,
        overrides,
        resolve,
        lambda hop: LLMHop(hop.target, **hop.hop_options()),
        _apply,
        logger,
    )
    hops, policy = recipe.build()
    llm = FallbackLLM(hops, policy=policy, **options)
    if follow:
        config.on_reload(llm, recipe.refresh)
    return llm


def _apply(llm: FallbackLLM, hops: list[Any], policy: Policy) -> None:
    previous = llm._settings
    llm._settings = dataclasses.replace(previous, policy=policy)
    try:
        llm.llms = tuple(hops)  # rebuilds the chain with the new settings, in one step
    except ConfigurationError:
        llm._settings = previous
        raise


def resolve(entry: ModelEntry) -> LLM:
    """Build ``entry``'s LLM, or raise `Unresolvable` saying why it cannot be built here."""
    known = INTEGRATIONS.get(entry.provider)
    if known is None:
        raise Unresolvable(
            f"no LlamaIndex integration known for provider {entry.provider!r} "
            f"(known: {', '.join(INTEGRATIONS)})"
        )
    module_name, class_name = known
    package = module_name.replace(".", "-").replace("_", "-")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise Unresolvable(
            f"integration package not installed (pip install {package}: {Unresolvable.brief(exc)})"
        ) from exc
    require_api_key(entry)
    kwargs = dict(entry.options)
    if "max_retries" in getattr(cls, "model_fields", {}):
        kwargs.setdefault("max_retries", 0)
    try:
        llm = cls(model=entry.model_name, **kwargs)
        llm.metadata  # noqa: B018 - a model the class does not know fails here, not mid-call
    except Exception as exc:
        raise Unresolvable.because(exc) from exc
    if not isinstance(llm, LLM):
        raise Unresolvable(f"{module_name}.{class_name} is not a LlamaIndex LLM")
    return llm
