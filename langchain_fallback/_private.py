"""The private copy of a chat model that each hop runs on.

The caller's model object is never changed; its hop runs on a copy that

- does not retry inside its client (`without_inner_retries`), unless
  ``inner_retries="keep"``;
- reports when each request leaves (`fallback_core.watch_requests` on the
  openai / anthropic SDK clients it holds), so a hop's first-token wait is
  counted from then, not from when the request started queueing for a
  connection. The clients are shared with the caller's model; the hook does
  nothing outside a chain's attempt.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel

from fallback_core import watch_requests

from ._retries import without_inner_retries

__all__ = ["hop_model"]

# Where chat model classes keep their SDK clients: ChatOpenAI's root clients (its
# ``client`` / ``async_client`` are resources of these), ChatAnthropic's cached ones.
_SDK_CLIENTS = ("root_client", "root_async_client", "_client", "_async_client")


def hop_model(model: BaseChatModel, hop: str, *, inner_retries: str) -> BaseChatModel:
    """The model hop ``hop`` runs on: ``model`` itself, or a private copy of it."""
    running = without_inner_retries(model, hop) if inner_retries == "off" else model
    watch_model_requests(running)
    return running


def watch_model_requests(model: BaseChatModel) -> int:
    """Have the SDK clients ``model`` holds report when a request is sent; how many were found."""
    watched = 0
    for attribute in _SDK_CLIENTS:
        try:
            client = getattr(model, attribute, None)
        except Exception:  # a lazily built client that cannot be built here
            continue
        if client is not None and watch_requests(client):
            watched += 1
    return watched
