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

from ._config import from_config
from ._events import FallbackHopEvent
from ._hops import InnerRetriesWarning, LLMHop
from ._llm import FallbackLLM

__all__ = ["FallbackHopEvent", "FallbackLLM", "InnerRetriesWarning", "LLMHop", "from_config"]
