"""Turning off a hop model's own retries, so the chain alone decides when to retry.

Provider clients retry on their own (``ChatOpenAI`` and ``ChatAnthropic`` twice
by default, honouring Retry-After up to a minute). Inside a chain those retries
multiply with the chain's and hold up failover: a rate-limited primary is
retried by its SDK before the chain ever hears of it. So by default each hop
runs on a private copy of its model whose client does not retry; the caller's
model object is never changed.

Two shapes are recognised, by duck typing:

- models holding openai-SDK clients (``root_client`` / ``root_async_client``):
  the copy gets ``client.with_options(max_retries=0)`` clients, which share the
  original connection pools;
- other models with a ``max_retries`` field whose clients are built lazily
  (``ChatAnthropic``): the copy has ``max_retries=0`` and forgets any cached
  client, so it builds its own without retries.

A model whose copy fails is used as it is, with a warning. A model exposing
neither shape is taken not to retry on its own.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from langchain_core.language_models import BaseChatModel

from fallback_core._toolkit import inner_chain

__all__ = ["retries_of", "without_inner_retries"]

_OPENAI_CLIENTS = (("root_client", "client"), ("root_async_client", "async_client"))


def retries_of(model: BaseChatModel) -> int | None:
    """How many times ``model``'s client retries a request on its own (None: unknown)."""
    counts = [
        getattr(getattr(model, root, None), "max_retries", None) for root, _ in _OPENAI_CLIENTS
    ]
    known = [c for c in counts if isinstance(c, int)]
    if known:
        return max(known)
    if "max_retries" in type(model).model_fields:
        value = getattr(model, "max_retries", None)
        # None leaves the SDK default, which retries (twice for openai and anthropic).
        return value if isinstance(value, int) else None
    return 0


def without_inner_retries(model: BaseChatModel, hop: str) -> BaseChatModel:
    """A copy of ``model`` whose client does not retry, or ``model`` if it never does."""
    if inner_chain(model) is not None or retries_of(model) == 0:  # a chain retries its own
        return model
    try:
        if any(_has_with_options(getattr(model, root, None)) for root, _ in _OPENAI_CLIENTS):
            return _openai_copy(model)
        return _lazy_client_copy(model)
    except Exception as exc:  # a model class that refuses to be copied
        _warn(model, hop, f"copying it failed ({type(exc).__name__}: {exc})")
        return model


def _has_with_options(client: Any) -> bool:
    return client is not None and callable(getattr(client, "with_options", None))


def _openai_copy(model: BaseChatModel) -> BaseChatModel:
    updates: dict[str, Any] = {}
    if "max_retries" in type(model).model_fields:
        updates["max_retries"] = 0
    copy = model.model_copy(update=updates)
    for root_name, client_name in _OPENAI_CLIENTS:
        root = getattr(model, root_name, None)
        if root is None or not _has_with_options(root):
            continue
        quiet = root.with_options(max_retries=0)
        object.__setattr__(copy, root_name, quiet)
        if getattr(model, client_name, None) is not None:
            object.__setattr__(copy, client_name, quiet.chat.completions)
    return copy


def _lazy_client_copy(model: BaseChatModel) -> BaseChatModel:
    copy = model.model_copy(update={"max_retries": 0})
    for cls in type(copy).__mro__:
        for name, member in vars(cls).items():
            if isinstance(member, functools.cached_property):
                copy.__dict__.pop(name, None)
    return copy


def _warn(model: BaseChatModel, hop: str, why: str) -> None:
    warnings.warn(
        f"hop {hop!r} ({type(model).__name__}) retries failed requests on its own and "
        f"fallback-chain cannot turn that off: {why}. Its retries delay failover; "
        "set its max_retries to 0, or pass inner_retries='keep' to silence this warning.",
        UserWarning,
        stacklevel=4,
    )
