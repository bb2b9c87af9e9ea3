"""fallback_core: walk an ordered chain of models until one finishes the answer.

Framework-neutral: it speaks `Delta` values and never imports LangChain or
LlamaIndex; the adapters in ``langchain_fallback`` and ``llamaindex_fallback``
wrap their models as `Target` objects.
"""

from __future__ import annotations

from ._chain import (
    DEFAULT_CONTINUE_INSTRUCTION,
    DEFAULT_FIRST_TOKEN_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    Chain,
    Hop,
    Tier,
)
from ._classify import ANTHROPIC_CONTEXT_MESSAGES, Category, ErrorInfo, classify_error
from ._cost import Price, Prices, capped, output_cap
from ._drive import AsyncCallStream, CallStream
from ._errors import (
    BadAnswerError,
    ChainExhaustedError,
    ConfigurationError,
    DeadlineExceededError,
    FallbackError,
    HopBugError,
    HopFailure,
    MalformedChunkError,
    SeamError,
    StreamTimeoutError,
    StreamTruncatedError,
)
from ._events import (
    CallEnded,
    ChainExhausted,
    ContinuationJoined,
    Event,
    FallbackTriggered,
    HealthStoreChanged,
    HedgeStarted,
    Hook,
    HopEnded,
    HopSkipped,
    HopStarted,
    RetryScheduled,
)
from ._health import Breaker, Circuit, CircuitOutcome, CircuitState, Health, Transition
from ._logging import LoggingHook
from ._policy import Action, Backoff, Policy, Rule
from ._sent import request_queued, request_sent, watch_requests
from ._store import LocalStore
from ._trace import AttemptRecord, ChainTrace
from ._types import (
    AttemptOutcome,
    CallOutcome,
    Continuation,
    Delta,
    SeamFix,
    Strategy,
    Target,
    TimeoutPhase,
    ToolCallChunk,
    Usage,
    rough_tokens,
)

__all__ = [
    "ANTHROPIC_CONTEXT_MESSAGES",
    "DEFAULT_CONTINUE_INSTRUCTION",
    "DEFAULT_FIRST_TOKEN_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "Action",
    "AsyncCallStream",
    "AttemptOutcome",
    "AttemptRecord",
    "Backoff",
    "BadAnswerError",
    "Breaker",
    "CallEnded",
    "CallOutcome",
    "CallStream",
    "Category",
    "Chain",
    "ChainExhausted",
    "ChainExhaustedError",
    "ChainTrace",
    "Circuit",
    "CircuitOutcome",
    "CircuitState",
    "ConfigurationError",
    "Continuation",
    "ContinuationJoined",
    "DeadlineExceededError",
    "Delta",
    "ErrorInfo",
    "Event",
    "FallbackError",
    "FallbackTriggered",
    "Health",
    "HealthStoreChanged",
    "HedgeStarted",
    "Hook",
    "Hop",
    "HopBugError",
    "HopEnded",
    "HopFailure",
    "HopSkipped",
    "HopStarted",
    "LocalStore",
    "LoggingHook",
    "MalformedChunkError",
    "Policy",
    "Price",
    "Prices",
    "RetryScheduled",
    "Rule",
    "SeamError",
    "SeamFix",
    "Strategy",
    "StreamTimeoutError",
    "StreamTruncatedError",
    "Target",
    "Tier",
    "TimeoutPhase",
    "ToolCallChunk",
    "Transition",
    "Usage",
    "capped",
    "classify_error",
    "output_cap",
    "request_queued",
    "request_sent",
    "rough_tokens",
    "watch_requests",
]
