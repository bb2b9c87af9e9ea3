"""The private copy of a chat model that each hop runs on.

The caller's model object is never changed; its hop runs on a copy that

- does not retry inside its client (`without_inner_retries`), unless
  ``inner_retries="keep"``;
- streams its token usage: the chain always streams, so without it an
  ``invoke`` through the chain would report none where the bare model's
  ``invoke`` does. A model class with a ``stream_usage`` field left unset
  (``ChatOpenAI`` pointed at any ``base_url``, ``AzureChatOpenAI``) gets
  ``stream_usage=True`` - OpenAI's ``stream_options={"include_usage": true}``,
  whose counts come in a last chunk with no choices. One set to False keeps
  it (for an endpoint that refuses ``stream_options``);
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
    running = with_stream_usage(running)
    watch_model_requests(running)
    return running


def with_stream_usage(model: BaseChatModel) -> BaseChatModel:
    """``model``, or a copy that streams its usage if its class can and it was left unset."""
    if "stream_usage" not in type(model).model_fields:
        return model
    if getattr(model, "stream_usage", None) is not None:
        return model
    return model.model_copy(update={"stream_usage": True})


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
