"""What each hop asks of its LLM's client, without changing the caller's LLM.

- A report when the request leaves: the httpx client the LLM's SDK client
  sends through gets `fallback_core.watch_requests`, so the hop's first-token
  wait counts from the moment the request is sent, not from when it started
  waiting for a free connection. The hook does nothing outside a chain's attempt.
"""

from __future__ import annotations

from llama_index.core.llms import LLM

from fallback_core import watch_requests

__all__ = ["watch_llm_requests"]


def watch_llm_requests(llm: LLM, *, is_async: bool) -> bool:
    """Have the client ``llm`` is about to send through report when its request leaves.

    Uses what the OpenAI-family LLMs hold: the ``http_client`` they were given,
    else the SDK client they reuse between calls (``reuse_client``, the
    default). False when neither is there (an LLM making a new client per call).
    """
    given = getattr(llm, "_async_http_client" if is_async else "_http_client", None)
    if given is not None:
        return watch_requests(given)
    get_client = getattr(llm, "_get_aclient" if is_async else "_get_client", None)
    if getattr(llm, "reuse_client", False) is not True or not callable(get_client):
        return False
    try:
        client = get_client()
    except Exception:  # let the call itself report what is wrong with the client
        return False
    return watch_requests(client)
