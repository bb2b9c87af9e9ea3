"""What a `FallbackLLM` warns about when it is built: inner retries, mixed function calling."""

from __future__ import annotations

import warnings

from ._hops import BuiltChain

__all__ = [
    "FunctionCallingWarning",
    "InnerRetriesWarning",
    "not_function_calling",
    "warn_about_function_calling",
    "warn_about_inner_retries",
]


class FunctionCallingWarning(UserWarning):
    """Some hops of a chain call functions and some do not, so the chain does not."""


class InnerRetriesWarning(UserWarning):
    """An LLM in a chain retries inside its own client, so the chain learns of failures late."""


def warn_about_inner_retries(built: BuiltChain) -> None:
    """Warn once if any hop's client retries on its own (``max_retries`` > 0)."""
    retrying = []
    for hop, llm in zip(built.chain.hops, built.llms, strict=True):
        retries = getattr(llm, "max_retries", None)
        if isinstance(retries, int) and not isinstance(retries, bool) and retries > 0:
            retrying.append(f"{hop.name} (max_retries={retries})")
    if retrying:
        warnings.warn(
            f"{', '.join(retrying)}: retried inside the LLM's own client before the chain "
            "sees the failure, which delays the fallback; the chain's Policy already retries. "
            "Build these LLMs with max_retries=0.",
            InnerRetriesWarning,
            stacklevel=3,
        )


def not_function_calling(built: BuiltChain) -> list[str]:
    """The hops of ``built`` that cannot call functions, as ``name (Class)``."""
    return [
        f"{hop.name} ({type(llm).__name__})"
        for hop, llm in zip(built.chain.hops, built.llms, strict=True)
        if not llm.metadata.is_function_calling_model
    ]


def warn_about_function_calling(built: BuiltChain) -> None:
    """Warn if some hops call functions and others do not: agents would refuse the chain."""
    missing = not_function_calling(built)
    if missing and len(missing) < len(built.llms):
        warnings.warn(
            f"{', '.join(missing)}: not a function-calling model, so neither is the chain and "
            "FunctionAgent refuses it ('LLM must be a FunctionCallingLLM'). Build those hops "
            "as function-calling models (e.g. OpenAILike(..., is_function_calling_model=True)) "
            "or leave them out of chains used by agents.",
            FunctionCallingWarning,
            stacklevel=3,
        )
