"""Tools and structured output through the chain, each hop bound its own way.

Binding tools (or a structured-output schema) to a `FallbackChatModel` binds
them to every hop's own model with that model's ``bind_tools`` /
``with_structured_output``, so each provider formats the request as it
should. What a hop's binding adds to its call (its ``tools``,
``tool_choice``, ``response_format``, ...) is read off the `RunnableBinding`
the hop returns, and passed with every call to that hop.

Structured answers are parsed on the chain's side, from what every hop's
answer has in common: a tool call named after the schema if there is one,
else JSON text. So a provider's own parsing helpers, which read fields that
do not survive a fallback, are never needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import (
    JsonOutputKeyToolsParser,
    JsonOutputParser,
    PydanticOutputParser,
    PydanticToolsParser,
)
from langchain_core.runnables import (
    Runnable,
    RunnableBinding,
    RunnableLambda,
    RunnableMap,
    RunnablePassthrough,
    RunnableSequence,
)
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

from fallback_core import ConfigurationError

__all__ = [
    "BINDING_KEY",
    "HopBinding",
    "bind_tools_kwargs",
    "format_tools",
    "structured_kwargs",
    "structured_output",
    "structured_parser",
    "tool_binding",
    "with_raw",
]

BINDING_KEY = "_fallback_binding"
"""The call kwarg carrying a `HopBinding` from a bound FallbackChatModel to its hops."""


class HopBinding:
    """How to bind each hop for one bound runnable; each hop's binding is made once.

    ``bind`` returns the hop model bound the hop's own way (a `RunnableBinding`
    of it, or a sequence starting with one); ``what`` names the operation in
    errors.
    """

    def __init__(
        self,
        bind: Callable[[BaseChatModel], Runnable[Any, Any]],
        what: str,
        key: str,
        *,
        answers_json: bool = False,
    ) -> None:
        self._bind = bind
        self.what = what
        self.key = key
        #: The answer is JSON text (structured output by ``json_mode`` / ``json_schema``).
        self.answers_json = answers_json
        self._kwargs: dict[int, tuple[BaseChatModel, Mapping[str, Any]]] = {}
        self._lock = threading.Lock()

    def kwargs_for(self, model: BaseChatModel, hop: str) -> Mapping[str, Any]:
        """What ``model``'s own binding adds to each call; raises if it cannot be bound."""
        with self._lock:
            cached = self._kwargs.get(id(model))
        if cached is not None and cached[0] is model:
            return cached[1]
        kwargs = _binding_kwargs(self._bind(model), model, hop, self.what)
        with self._lock:
            self._kwargs[id(model)] = (model, kwargs)
        return kwargs

    def check(self, hops: Sequence[tuple[str, BaseChatModel]]) -> None:
        """Bind every hop now, so a hop that cannot be bound fails at bind time."""
        for hop, model in hops:
            self.kwargs_for(model, hop)

    def __repr__(self) -> str:
        # Stable and complete: it is part of LangChain's cache key for a bound call.
        return f"HopBinding({self.what}: {self.key})"


def _binding_kwargs(
    bound: Runnable[Any, Any], model: BaseChatModel, hop: str, what: str
) -> Mapping[str, Any]:
    first = bound.first if isinstance(bound, RunnableSequence) else bound
    layers: list[Mapping[str, Any]] = []
    while isinstance(first, RunnableBinding):
        layers.append(first.kwargs)
        first = first.bound
    if first is not model:
        raise ConfigurationError(
            f"hop {hop!r}",
            f"{type(model).__name__}.{what} returned {type(bound).__name__}, "
            "not a binding of the model itself",
            f"a model whose {what} returns model.bind(...) (optionally followed by a parser)",
        )
    merged: dict[str, Any] = {}
    for kwargs in reversed(layers):  # outer bindings override inner ones, as when called
        merged.update(kwargs)
    return merged


def format_tools(tools: Sequence[Any]) -> list[dict[str, Any]]:
    """Tools as OpenAI-format dicts (provider dicts kept as given), for tracing and agents."""
    return [tool if isinstance(tool, dict) else convert_to_openai_tool(tool) for tool in tools]


def tool_binding(tools: Sequence[Any], tool_choice: Any, options: Mapping[str, Any]) -> HopBinding:
    """Bind ``tools`` to each hop with its own ``bind_tools``."""
    extra = dict(options)
    if tool_choice is not None:
        extra["tool_choice"] = tool_choice
    tools = list(tools)

    def bind(model: BaseChatModel) -> Runnable[Any, Any]:
        try:
            return model.bind_tools(tools, **extra)
        except NotImplementedError:
            raise ConfigurationError(
                f"{type(model).__name__}.bind_tools",
                "the model cannot call tools",
                "hops whose models support tool calling",
            ) from None

    return HopBinding(bind, "bind_tools", repr((format_tools(tools), extra)))


def structured_output(schema: Any, options: Mapping[str, Any]) -> HopBinding:
    """Bind ``schema`` to each hop the way its own ``with_structured_output`` would."""
    options = dict(options)

    def bind(model: BaseChatModel) -> Runnable[Any, Any]:
        return model.with_structured_output(schema, include_raw=False, **options)

    json_text = options.get("method") in ("json_mode", "json_schema")
    return HopBinding(
        bind, "with_structured_output", repr((schema, options)), answers_json=json_text
    )


def bind_tools_kwargs(
    tools: Sequence[Any],
    tool_choice: Any,
    options: Mapping[str, Any],
    hops: Sequence[tuple[str, BaseChatModel]],
) -> dict[str, Any]:
    """What ``FallbackChatModel.bind_tools`` binds; every hop is bound once now, to fail early.

    ``tools`` (OpenAI form) and ``tool_choice`` are there for agents that read
    them; the private binding carries the tools as given to each hop.
    """
    options = dict(options)
    ls_format = options.pop("ls_structured_output_format", None)
    binding = tool_binding(tools, tool_choice, options)
    binding.check(hops)
    bound: dict[str, Any] = {"tools": format_tools(tools), BINDING_KEY: binding}
    if tool_choice is not None:
        bound["tool_choice"] = tool_choice
    if ls_format is not None:
        bound["ls_structured_output_format"] = ls_format
    return bound


def structured_kwargs(
    schema: Any, options: Mapping[str, Any], hops: Sequence[tuple[str, BaseChatModel]]
) -> dict[str, Any]:
    """What ``FallbackChatModel.with_structured_output`` binds; every hop is bound once now."""
    binding = structured_output(schema, options)
    binding.check(hops)
    bound: dict[str, Any] = {BINDING_KEY: binding}
    if schema is not None:
        kwargs = {k: options.get(k) for k in ("method", "strict")}
        bound["ls_structured_output_format"] = {"kwargs": kwargs, "schema": schema}
    return bound


def structured_parser(schema: Any) -> Runnable[BaseMessage, Any]:
    """Parses a structured answer from whichever hop served it: tool call, else JSON text."""
    if schema is None:
        tools_parser: Runnable[BaseMessage, Any] | None = None
        text_parser: Runnable[BaseMessage, Any] = JsonOutputParser()
    elif isinstance(schema, type) and is_basemodel_subclass(schema):
        tools_parser = PydanticToolsParser(tools=[schema], first_tool_only=True)
        text_parser = PydanticOutputParser(pydantic_object=schema)
    else:
        name = convert_to_openai_tool(schema)["function"]["name"]
        tools_parser = JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        text_parser = JsonOutputParser()

    def choose(message: BaseMessage) -> Runnable[BaseMessage, Any]:
        if tools_parser is not None and isinstance(message, AIMessage) and message.tool_calls:
            return tools_parser
        return text_parser

    return RunnableLambda(choose, name="structured_parser")


def with_raw(llm: Runnable[Any, Any], parser: Runnable[Any, Any]) -> Runnable[Any, Any]:
    """``{"raw", "parsed", "parsing_error"}``, as LangChain's ``include_raw=True`` returns."""
    parse = RunnablePassthrough.assign(
        parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
    )
    unparsed = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parse.with_fallbacks([unparsed], exception_key="parsing_error")
