"""`FallbackChatModel`: a LangChain chat model that is an ordered chain of chat models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import Field, GetPydanticSchema, PrivateAttr, SkipValidation
from pydantic_core import core_schema

from fallback_core import Chain, ConfigurationError, Health, Policy, Tier
from fallback_core._toolkit import DEFAULTS

from ._build import CHAIN_FIELDS, Built, build_chain
from ._call import public_kwargs
from ._calls import ChainCalls
from ._checks import check_models, hook_tuple, split_policy
from ._hops import ChatHop, model_name
from ._target import ChatRequest
from ._tools import bind_tools_kwargs, structured_kwargs, structured_parser, with_raw

__all__ = ["FallbackChatModel"]


class FallbackChatModel(ChainCalls):
    """A chat model that answers with the first of its ``models`` that can.

    Each call walks the models in order. When one fails - an error, a rate
    limit, a hung connection, a stream that dies mid-answer - the next takes
    over, and a broken answer is continued by the next model, so the caller
    receives one complete answer with nothing lost or repeated. It is a true
    ``BaseChatModel``: use it wherever a chat model goes.

    ``models`` are chat models, `ChatHop` (a model with its own limits), and
    `fallback_core.Tier`s of equivalent deployments sharing one place (each
    call picks one by ``ChatHop.weight`` and tries the others of the tier
    before moving on).
    ``policy`` (or its fields as keywords: ``deadline=``, ``rules=``,
    ``max_attempts=``, ...) decides what is retried, where the walk moves on
    and when it gives up. For every hop that sets none of its own,
    ``first_token_timeout`` (default 60 s) bounds the wait from sending its
    request to its first text or tool call, ``idle_timeout`` (default 30 s)
    each later gap between chunks and ``timeout`` (default none) one whole
    attempt; None lifts a limit. With a ``deadline`` each hop waits for its
    first text at most its share of what is left, so the backups are always
    tried. ``max_retries`` caps retries on one hop.
    ``inner_retries="off"`` (the default) runs each hop without its client's own
    retries, so the chain alone decides when to retry and failover is not held
    up; ``"keep"`` leaves them. ``nested_runs`` shows each attempt as a child
    run in LangSmith. ``hooks`` receive every telemetry event of every call.
    ``health`` (a `fallback_core.Health`, shareable between models) skips
    models whose circuit is open; each model's identity is its provider, model
    name and endpoint.

    Call options (``stop``, ``.bind(temperature=0)``, a per-call ``model``) go
    to every model unchanged; ``stop``, ``temperature`` and ``max_tokens`` set
    here apply when a call gives none. Any other keyword is refused with the
    closest valid name: provider options (``api_key``, ``base_url``) belong on
    each model.
    The caller's callbacks see one chat-model run per call, each token once,
    and every hop event as a ``fallback.*`` custom event on that run; the
    models themselves run unobserved. The answer's
    ``response_metadata["model_name"]`` names the model that served,
    ``response_metadata["fallback"]`` holds the call's trace, and usage is
    summed over every attempt.
    """

    models: Annotated[tuple[Any, ...], SkipValidation()] = ()
    # Checked as an instance only: pydantic cannot read the core's dataclass annotations.
    policy: Annotated[
        Policy, GetPydanticSchema(lambda _t, _h: core_schema.is_instance_schema(Policy))
    ] = Field(default_factory=Policy)
    health: Annotated[
        Health | None,
        GetPydanticSchema(
            lambda _t, _h: core_schema.nullable_schema(core_schema.is_instance_schema(Health))
        ),
    ] = None
    """Shared health (`fallback_core.Health`): skip models whose circuit is open."""
    hooks: Annotated[tuple[Any, ...], SkipValidation()] = ()
    continue_instruction: str = DEFAULTS.continue_instruction
    timeout: float | None = DEFAULTS.limits.timeout
    """Seconds one attempt may take from start to finish, for hops that set none."""
    first_token_timeout: float | None = DEFAULTS.limits.first_token_timeout
    """Seconds from sending a hop's request to its first text or tool call."""
    idle_timeout: float | None = DEFAULTS.limits.idle_timeout
    """Seconds a hop's stream may go quiet between chunks after its first text."""
    max_retries: int | None = None
    stop: list[str] | None = None
    """Stop sequences for every model, used when a call gives none."""
    temperature: float | None = None
    """Sampling temperature for every model, used when a call gives none."""
    max_tokens: int | None = None
    """Output-token cap for every model, used when a call gives none."""
    inner_retries: Literal["off", "keep"] = "off"
    nested_runs: bool = False
    streaming: bool = False
    """Report tokens to callbacks on ``invoke`` too (every hop then streams its answer)."""

    _built: Built | None = PrivateAttr(default=None)

    def __init__(
        self, models: Sequence[BaseChatModel | ChatHop | Tier[Any]] | None = None, **data: Any
    ) -> None:
        if models is not None:
            data["models"] = models
        data["models"] = check_models(data.get("models", ()), owner=None)
        data["hooks"] = hook_tuple(data.get("hooks"))
        data = split_policy(data, known=type(self).model_fields)
        super().__init__(**data)
        self._built = self._build()

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in CHAIN_FIELDS:
            super().__setattr__(name, value)
            return
        if name == "models":
            value = check_models(value, owner=self)
        elif name == "hooks":
            value = hook_tuple(value)
        elif name == "policy" and not isinstance(value, Policy):
            raise ConfigurationError("policy", f"got {type(value).__name__}", "a Policy")
        built = self._build(**{name: value})
        super().__setattr__(name, value)
        self._built = built

    def _build(self, **changes: Any) -> Built:
        return build_chain({f: changes.get(f, getattr(self, f)) for f in CHAIN_FIELDS})

    def _state(self) -> Built:
        if self._built is None:  # made without __init__ (model_validate, model_construct)
            self._built = self._build()
        return self._built

    @property
    def fallback_chain(self) -> Chain[ChatRequest]:
        """The validated chain each call walks."""
        return self._state().chain

    # -- what LangChain reads about the model ---------------------------------

    @property
    def _llm_type(self) -> str:
        return "fallback-chat-model"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "hops": [
                {"name": name, "type": model._llm_type, **model._identifying_params}
                for name, model in self._state().hops
            ]
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """The primary model's tracing params; ``ls_model_name`` honours a per-call ``model``."""
        name, primary = self._state().hops[0]
        params = primary._get_ls_params(stop=stop, **public_kwargs(kwargs))
        params["ls_model_type"] = "chat"
        params["ls_provider"] = params.get("ls_provider") or "fallback"
        override = kwargs.get("model")
        if isinstance(override, str) and override:
            params["ls_model_name"] = override
        elif not isinstance(params.get("ls_model_name"), str):
            params["ls_model_name"] = model_name(primary) or name
        return params

    def _get_invocation_params(
        self, stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return super()._get_invocation_params(stop=stop, **public_kwargs(kwargs))

    def _get_llm_string(self, stop: list[str] | None = None, **kwargs: Any) -> str:
        return super()._get_llm_string(stop=stop, **public_kwargs(kwargs, keep_binding=True))

    # -- tools and structured output ---------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind ``tools`` to every model of the chain, each with its own ``bind_tools``.

        Raises `ConfigurationError` at once if a model cannot bind them. The
        binding's ``tools`` kwarg lists them in OpenAI form, as agents expect.
        """
        return self.bind(**bind_tools_kwargs(tools, tool_choice, kwargs, self._state().hops))

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers shaped by ``schema``, each model asked its own way.

        ``method``, ``strict`` and other options go to every model's own
        ``with_structured_output``; the answer is parsed from whichever model
        served it. The default, ``"function_calling"``, is the failover-safe
        method: a tool call reaches the caller whole or not at all, so an
        answer broken mid-way is given again by the next model. The JSON-text
        methods can only be continued, which a provider enforcing the schema
        on the continuation cannot do.
        """
        options = dict(kwargs, method=method)
        if strict is not None:
            options["strict"] = strict
        llm = self.bind(**structured_kwargs(schema, options, self._state().hops))
        parser = structured_parser(schema)
        return with_raw(llm, parser) if include_raw else llm | parser
