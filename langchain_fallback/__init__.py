"""langchain_fallback: backup models for LangChain, as one chat model.

    from langchain_fallback import FallbackChatModel

    llm = FallbackChatModel(models=[ChatOpenAI(model="gpt-4o"), ChatAnthropic(model="...")])

`FallbackChatModel` is a ``BaseChatModel``: put it wherever a chat model goes
(an LCEL chain, an agent, a LangGraph graph). `with_backups` is shorthand for
the common case; `ChatHop` gives one model its own limits.
"""

from __future__ import annotations

try:
    import langchain_core as _langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "langchain_fallback needs langchain-core: pip install 'fallback-chain[langchain]'"
    ) from exc

from typing import Any

from langchain_core.language_models import BaseChatModel

from fallback_core import Tier

from ._config import from_config
from ._hops import ChatHop
from ._model import FallbackChatModel

__all__ = ["ChatHop", "FallbackChatModel", "from_config", "with_backups"]


def with_backups(
    primary: BaseChatModel | ChatHop | Tier[Any],
    *backups: BaseChatModel | ChatHop | Tier[Any],
    **options: Any,
) -> FallbackChatModel:
    """``primary``, falling back to each of ``backups`` in turn; ``options`` as for the model."""
    return FallbackChatModel(models=[primary, *backups], **options)
