"""Callbacks for one call: a single chat-model run for the caller, hop events on it.

The caller's handlers see one run per call: ``on_chat_model_start`` once, each
token once, and every hop event (`HopStarted`, `FallbackTriggered`, ...) as an
``on_custom_event`` on that run, named ``fallback.<event>`` with the event's
fields as JSON-friendly data.

The hop models never see the caller's handlers. They run with an empty
callback list and, while their call is being set up, with LangSmith tracing
and callback configure hooks (``get_usage_metadata_callback`` and the like)
switched off, so nothing is traced or counted twice. With ``nested_runs``
each attempt instead becomes a child run of the caller's run, reported to the
caller's tracers only (LangSmith's, ``collect_runs``, debug output): handlers
that stream tokens (``astream_events``, LangGraph) still see each token once.
LangSmith then shows every attempt, and counts its tokens in the trace's total
besides the merged usage of the outer run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any
from uuid import UUID

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    BaseCallbackHandler,
    BaseCallbackManager,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.tracers import context as tracer_context
from langchain_core.tracers.base import BaseTracer
from langchain_core.utils.uuid import uuid7
from langsmith.run_helpers import tracing_context

from fallback_core import Event
from fallback_core._toolkit import event_data as toolkit_event_data
from fallback_core._toolkit import event_kind

__all__ = [
    "EVENT_PREFIX",
    "AsyncEventForwarder",
    "EventForwarder",
    "HopScope",
    "RunHandle",
    "configured",
    "event_data",
    "event_name",
]

EVENT_PREFIX = "fallback."

# Run settings of the caller's config that every hop's config carries too.
_SHARED_CONFIG = ("configurable", "recursion_limit", "max_concurrency")


@dataclasses.dataclass(frozen=True, slots=True)
class RunHandle:
    """The caller's run for one call: its id, the callbacks it reports to, its run config.

    ``config`` holds the caller's run settings every hop gets too
    (``configurable``, ``recursion_limit``, ``max_concurrency``).
    """

    run_id: UUID
    manager: BaseCallbackManager
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def open(
        cls, model: BaseChatModel, config: RunnableConfig | None, *, is_async: bool
    ) -> tuple[RunHandle, RunnableConfig]:
        """Configure the run ``model`` is about to start; return it and the config to start it.

        The returned config carries the configured callbacks and a fixed run id,
        so the run LangChain starts is exactly the one described here.
        """
        config = ensure_config(config)
        run_id = config.get("run_id") or uuid7()
        manager = configured(model, config, AsyncCallbackManager if is_async else CallbackManager)
        settings: Mapping[str, Any] = config
        shared = {k: settings[k] for k in _SHARED_CONFIG if settings.get(k) is not None}
        handle = cls(run_id, manager, shared)
        return handle, {**config, "callbacks": manager, "run_id": run_id}

    @classmethod
    def of_run(cls, run: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun) -> RunHandle:
        """The handle of a run LangChain has already started."""
        manager_class = (
            AsyncCallbackManager
            if isinstance(run, AsyncCallbackManagerForLLMRun)
            else CallbackManager
        )
        manager = manager_class(
            handlers=run.handlers,
            inheritable_handlers=run.inheritable_handlers,
            parent_run_id=run.parent_run_id,
            tags=run.tags,
            inheritable_tags=run.inheritable_tags,
            metadata=run.metadata,
            inheritable_metadata=run.inheritable_metadata,
        )
        return cls(run.run_id, manager)

    @property
    def observed(self) -> bool:
        """Whether any handler listens to the run (with none, its events go nowhere)."""
        return bool(self.manager.handlers)

    def scope(self, *, nested: bool) -> HopScope:
        """How the hops of this call are run."""
        callbacks = None
        if nested:
            callbacks = CallbackManager(handlers=[], parent_run_id=self.run_id)
            tracers: list[BaseCallbackHandler] = [
                h for h in self.manager.inheritable_handlers if _is_tracer(h)
            ]
            callbacks.set_handlers(tracers)
        return HopScope(
            tags=tuple(self.manager.inheritable_tags),
            metadata=dict(self.manager.inheritable_metadata),
            callbacks=callbacks,
            shared=self.config,
        )


def configured(
    model: BaseChatModel,
    config: RunnableConfig,
    manager_class: type[CallbackManager] | type[AsyncCallbackManager],
) -> BaseCallbackManager:
    """The callbacks a run of ``model`` under ``config`` reports to, as LangChain configures them.

    Beside the config's and the model's own: debug and verbose output, tracing,
    and the configure hooks, as far as the current context enables them.
    """
    return manager_class.configure(
        config.get("callbacks"),
        model.callbacks,
        model.verbose,
        config.get("tags"),
        model.tags,
        config.get("metadata"),
        model.metadata,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class HopScope:
    """The run config every hop of one call gets, and what its runs may report to.

    Without ``callbacks`` the hops are isolated: nothing observes them. With
    ``callbacks`` (nested runs) each attempt is a child run named after its hop.
    """

    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    callbacks: CallbackManager | None = None
    shared: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def config_for(self, hop: str) -> RunnableConfig:
        """The config for one attempt on ``hop``."""
        config = RunnableConfig(tags=list(self.tags), metadata=dict(self.metadata))
        config.update(self.shared)  # type: ignore[typeddict-item]
        if self.callbacks is None:
            # An empty list, not None: None would let a parent runnable's callbacks in.
            config["callbacks"] = []
        else:
            config["callbacks"] = self.callbacks.copy()
            config["run_name"] = hop
        return config

    @contextmanager
    def starting(self) -> Iterator[None]:
        """Wrap the first read of a hop's stream, when its callbacks are configured."""
        hooks = getattr(tracer_context, "_configure_hooks", ())
        resets: list[tuple[ContextVar[Any], Token[Any]]] = [
            (var, var.set(None)) for var, *_ in hooks
        ]
        try:
            if self.callbacks is not None:
                yield
                return
            resets.append(
                (
                    tracer_context.tracing_v2_callback_var,
                    tracer_context.tracing_v2_callback_var.set(None),
                )
            )
            with tracing_context(enabled=False):
                yield
        finally:
            for var, token in reversed(resets):
                var.reset(token)


def _is_tracer(handler: BaseCallbackHandler) -> bool:
    """Tracers (LangSmith's, ``collect_runs``, debug) record run trees; streaming handlers don't."""
    return isinstance(handler, BaseTracer) and not callable(
        getattr(handler, "tap_output_iter", None)
    )


def event_name(event: Event) -> str:
    """``fallback.hop_started`` for `HopStarted`, and so on."""
    return EVENT_PREFIX + event_kind(event)


def event_data(event: Event) -> dict[str, Any]:
    """The event's fields as JSON-friendly data, plus ``event``: its short name."""
    return dict(toolkit_event_data(event, digits=6))


class EventForwarder:
    """A per-call hook that reports each event to the caller's run, as it happens."""

    def __init__(self, handle: RunHandle) -> None:
        self._handle = handle

    def __call__(self, event: Event) -> None:
        manager = self._handle.manager
        if isinstance(manager, CallbackManager):
            manager.on_custom_event(
                event_name(event), event_data(event), run_id=self._handle.run_id
            )


class AsyncEventForwarder:
    """The async form: events are reported in order by one task, awaited by `flush`."""

    def __init__(self, handle: RunHandle) -> None:
        self._handle = handle
        self._pending: deque[Event] = deque()
        self._task: asyncio.Task[None] | None = None
        self._muted = False

    def __call__(self, event: Event) -> None:
        if self._muted:
            return
        self._pending.append(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        manager, run_id = self._handle.manager, self._handle.run_id
        while self._pending:
            event = self._pending.popleft()
            name, data = event_name(event), event_data(event)
            if isinstance(manager, AsyncCallbackManager):
                await manager.on_custom_event(name, data, run_id=run_id)
            elif isinstance(manager, CallbackManager):
                manager.on_custom_event(name, data, run_id=run_id)

    async def flush(self) -> None:
        """Wait until every event so far has been reported."""
        if self._task is not None:
            await self._task
        await self._drain()

    def mute(self) -> None:
        """Report nothing more, and drop what is pending."""
        self._muted = True
        self._pending.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
