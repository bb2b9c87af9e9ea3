"""What a scripted model reads from a request: which tool to call, and values a schema asks for.

A fault server's model understands nothing, but a few fixed rules let it give
the answers that tools and structured output need. The rules depend only on
the request, never on the model, so a backup builds the same JSON as the
primary it takes over from and can continue it.

The tool called is the function `tool_choice` names, else the first function
tool offered. A value for a JSON schema is read off the prompt (the last user
message's text):

    integer, number   the first number in the prompt, else 0
    string            the first quoted text ('...' or "..."), else `FILLER`
    boolean           true
    array             []
    null              null
    object            every property, built by these rules
    enum, const       the first allowed value
    anyOf, oneOf,     the first branch that is not null
    allOf, [types]
    $ref              the `$defs` / `definitions` entry it points to

`response_format` `json_schema` gets an object built from its schema;
`json_object` gets an object keyed by the prompt's quoted texts, each holding
`FILLER` (a prompt without quoted text gets `{"answer": <canonical answer>}`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

FILLER = "fallback"
"""The string a schema gets where the prompt quotes nothing."""

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"(?<!\w)(['\"])(.+?)\1(?!\w)")
_REQUIRED_CHOICES = ("required", "any")


def tool_name(tool: Mapping[str, Any]) -> str | None:
    """The name of an OpenAI function tool, or None for any other kind of tool."""
    function = tool.get("function")
    if tool.get("type", "function") != "function" or not isinstance(function, Mapping):
        return None
    name = function.get("name")
    return name if isinstance(name, str) and name else None


def named_choice(tool_choice: object) -> str | None:
    """The function a `tool_choice` of the form {"type": "function", ...} names, if any."""
    if not isinstance(tool_choice, Mapping):
        return None
    function = tool_choice.get("function")
    name = function.get("name") if isinstance(function, Mapping) else None
    return name if isinstance(name, str) else None


def call_required(tool_choice: object) -> bool:
    """Whether `tool_choice` obliges the model to call a tool.

    That is "required", a named function, or "any" (how some clients spell "required").
    """
    return tool_choice in _REQUIRED_CHOICES or named_choice(tool_choice) is not None


def chosen_tool(
    tools: Sequence[Mapping[str, Any]], tool_choice: object
) -> tuple[str, Mapping[str, Any]] | None:
    """The name and parameters schema of the tool to call: the named one, else the first."""
    wanted = named_choice(tool_choice)
    for tool in tools:
        name = tool_name(tool)
        if name is not None and wanted in (None, name):
            parameters = tool["function"].get("parameters")
            return name, parameters if isinstance(parameters, Mapping) else {}
    return None


def arguments_for(parameters: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    """Arguments for a tool whose parameters are the JSON schema `parameters`."""
    value = value_for(parameters, prompt)
    return value if isinstance(value, dict) else {}


def json_answer(response_format: Mapping[str, Any], prompt: str, answer: str) -> str | None:
    """The JSON text `response_format` asks for, or None when it asks for plain text."""
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        value = value_for(schema if isinstance(schema, Mapping) else {"type": "object"}, prompt)
    elif kind == "json_object":
        keys = quoted_texts(prompt)
        value = dict.fromkeys(keys, FILLER) if keys else {"answer": answer}
    else:
        return None
    return json.dumps(value, ensure_ascii=False)


def quoted_texts(prompt: str) -> list[str]:
    """The texts quoted in `prompt` with '...' or "...", in order, without repeats."""
    return list(dict.fromkeys(match.group(2) for match in _QUOTED.finditer(prompt)))


def value_for(schema: Mapping[str, Any], prompt: str) -> Any:
    """A value that fits the JSON schema `schema`, read off `prompt` by the module's rules."""
    return _Builder(schema, prompt).build(schema, frozenset())


class _Builder:
    """Builds a value for a schema, resolving its `$ref`s against the root schema."""

    def __init__(self, root: Mapping[str, Any], prompt: str) -> None:
        self.root = root
        self.prompt = prompt

    def build(self, schema: Mapping[str, Any], expanding: frozenset[str]) -> Any:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self._resolve(ref)
            if target is None or ref in expanding:  # unknown, or a recursive schema
                return None
            return self.build(target, expanding | {ref})
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        for key in ("anyOf", "oneOf", "allOf"):
            branches = schema.get(key)
            if isinstance(branches, list):
                branch = _first_not_null(branches)
                return None if branch is None else self.build(branch, expanding)
        return self._typed(_type_of(schema), schema, expanding)

    def _typed(self, kind: str, schema: Mapping[str, Any], expanding: frozenset[str]) -> Any:
        if kind == "object":
            properties = schema.get("properties")
            if not isinstance(properties, Mapping):
                return {}
            return {
                name: self.build(sub if isinstance(sub, Mapping) else {}, expanding)
                for name, sub in properties.items()
            }
        if kind in ("integer", "number"):
            return self._number(integer=kind == "integer")
        if kind == "boolean":
            return True
        if kind == "array":
            return []
        if kind == "null":
            return None
        quoted = quoted_texts(self.prompt)
        return quoted[0] if quoted else FILLER

    def _number(self, *, integer: bool) -> int | float:
        match = _NUMBER.search(self.prompt)
        if match is None:
            return 0
        number = float(match.group())
        return int(number) if integer or number.is_integer() else number

    def _resolve(self, ref: str) -> Mapping[str, Any] | None:
        node: Any = self.root
        if not ref.startswith("#"):
            return None
        for part in filter(None, ref[1:].split("/")):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part.replace("~1", "/").replace("~0", "~"))
        return node if isinstance(node, Mapping) else None


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    return "object" if "properties" in schema else "string"


def _first_not_null(branches: list[Any]) -> Mapping[str, Any] | None:
    schemas = [b for b in branches if isinstance(b, Mapping)]
    for branch in schemas:
        if branch.get("type") != "null":
            return branch
    return schemas[0] if schemas else None
