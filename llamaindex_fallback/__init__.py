"""llamaindex_fallback: backup models for LlamaIndex pipelines.

    from llamaindex_fallback import FallbackLLM

    llm = FallbackLLM([primary, backup], idle_timeout=20, deadline=120)
    index.as_query_engine(llm=llm, streaming=True)

`FallbackLLM` is a LlamaIndex ``FunctionCallingLLM`` that walks its LLMs in
order with ``fallback_core``: when one fails - an error, a rate limit, a stall,
a stream that dies mid-answer - the next takes over and continues the answer.
`LLMHop` gives one LLM settings of its own; `FallbackHopEvent` is the
instrumentation event dispatched for every step of a call.
"""

from __future__ import annotations

try:
    import llama_index.core as _llama_index_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "llamaindex_fallback needs llama-index-core: pip install 'fallback-chain[llamaindex]'"
    ) from exc

from ._config import from_config
from ._events import FallbackHopEvent
from ._hops import LLMHop
from ._llm import FallbackLLM
from ._warnings import FunctionCallingWarning, InnerRetriesWarning

__all__ = [
    "FallbackHopEvent",
    "FallbackLLM",
    "FunctionCallingWarning",
    "InnerRetriesWarning",
    "LLMHop",
    "from_config",
]
