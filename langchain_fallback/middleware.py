"""`FallbackMiddleware`: backup models for a LangChain v1 agent, on the fallback engine.

    from langchain.agents import create_agent
    from langchain_fallback.middleware import FallbackMiddleware

    agent = create_agent(
        ChatOpenAI(model="gpt-4o"),
        tools=[get_weather],
        middleware=[FallbackMiddleware(ChatAnthropic(model="claude-sonnet-4-5"), idle_timeout=20)],
    )

Each model call of the agent goes to a `FallbackChatModel` whose first model
is the agent's own (whatever the request names, after earlier middleware) and
whose backups are the middleware's. So an agent gets everything the chat model
gives - failures classified (a 400 or a bug is raised, not failed over),
Retry-After honoured, stall limits, a broken stream continued by the next
model, hop events on the agent's callbacks - unlike LangChain's
``ModelFallbackMiddleware``, which tries the next model on any exception and
starts its answer over.

Needs the ``langchain`` package (``pip install 'fallback-chain[agents]'``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.language_models import BaseChatModel

from fallback_core import ConfigurationError

from ._hops import ChatHop
from ._model import FallbackChatModel

try:
    from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
    from langchain.chat_models import init_chat_model
except ImportError as exc:  # pragma: no cover - exercised only without the package
    raise ImportError(
        "langchain_fallback.middleware needs the langchain package: "
        "pip install 'fallback-chain[agents]'"
    ) from exc

__all__ = ["FallbackMiddleware"]

Backup = BaseChatModel | ChatHop | str

# Chains kept for the models calls have named (a router middleware may name several).
_CACHED_CHAINS = 16


class FallbackMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Backs an agent's model with ``backups``, tried in order when it fails.

    ``backups`` are chat models, `ChatHop` values or ``"provider:model"``
    strings (made with ``init_chat_model``); ``options`` are those of
    `FallbackChatModel` (``idle_timeout=``, ``deadline=``, ``hooks=``,
    ``health=``, ...) and are checked here, when the middleware is built.
    """

    def __init__(self, *backups: Backup, **options: Any) -> None:
        super().__init__()
        if not backups:
            raise ConfigurationError(
                "backups", "none given", "at least one chat model, ChatHop or 'provider:model'"
            )
        self.backups: tuple[BaseChatModel | ChatHop, ...] = tuple(
            init_chat_model(b) if isinstance(b, str) else b for b in backups
        )
        self.options = options
        FallbackChatModel(models=self.backups, **options)  # bad options fail now, not per call
        self._chains: dict[int, tuple[BaseChatModel, FallbackChatModel]] = {}
        self._lock = threading.Lock()

    def chain_for(self, model: BaseChatModel) -> FallbackChatModel:
        """The chat model a call on ``model`` goes to: ``model``, then the backups."""
        key = id(model)
        with self._lock:
            found = self._chains.pop(key, None)
            if found is None or found[0] is not model:
                found = (model, FallbackChatModel(models=[model, *self.backups], **self.options))
            self._chains[key] = found  # most recently used last
            while len(self._chains) > _CACHED_CHAINS:
                del self._chains[next(iter(self._chains))]
            return found[1]

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Run the agent's model call on the chain of its model and the backups."""
        return handler(request.override(model=self.chain_for(request.model)))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Run the agent's model call on the chain of its model and the backups."""
        return await handler(request.override(model=self.chain_for(request.model)))
