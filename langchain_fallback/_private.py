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

`streams_only` tells when a hop's SDK refuses a whole (non-streaming) call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel

from fallback_core import watch_requests
from fallback_core._toolkit import refuses_unstreamed

from ._retries import without_inner_retries

__all__ = ["hop_model", "streams_only"]

# Where chat model classes keep their SDK clients: ChatOpenAI's root clients (its
# ``client`` / ``async_client`` are resources of these), ChatAnthropic's cached ones.
_SDK_CLIENTS = ("root_client", "root_async_client", "_client", "_async_client")


def hop_model(model: BaseChatModel, hop: str, *, inner_retries: str) -> tuple[BaseChatModel, bool]:
    """The model hop ``hop`` runs on (``model`` itself, or a private copy of it), and
    whether its clients report each request sent (then its first-token wait starts there)."""
    running = without_inner_retries(model, hop) if inner_retries == "off" else model
    running = with_stream_usage(running)
    return running, watch_model_requests(running) > 0


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


def streams_only(model: BaseChatModel, kwargs: Mapping[str, Any], *, is_async: bool) -> bool:
    """Whether ``model``'s SDK refuses to send this call unstreamed.

    The anthropic SDK refuses a non-streaming request whose ``max_tokens``
    implies more than ten minutes when its client keeps the SDK's default
    timeout (``ChatAnthropic`` with ``default_request_timeout`` of 0 or
    less): see `refuses_unstreamed`.
    """
    client = getattr(model, "_async_client" if is_async else "_client", None)
    max_tokens = kwargs.get("max_tokens", getattr(model, "max_tokens", None))
    name = kwargs.get("model", getattr(model, "model", None))
    return refuses_unstreamed(client, max_tokens, name, kwargs.get("timeout"))
