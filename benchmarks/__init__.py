"""Side-by-side benchmarks of fallback systems against the local fault server.

    make bench                  # or: python -m benchmarks [--quick]

Every system - the bare primary model, LangChain's ``with_fallbacks``,
LiteLLM's ``Router``, ``FallbackChatModel`` and ``FallbackLLM`` - meets every
scenario of the fault server in the same run; the results land in
``benchmarks/results/`` as markdown, JSON and a PNG chart.
"""

from __future__ import annotations

import os

# Before anything imports litellm or langchain: no tracing, no cost map download.
# Network traffic goes to 127.0.0.1 only.
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("LITELLM_LOG", "CRITICAL")
