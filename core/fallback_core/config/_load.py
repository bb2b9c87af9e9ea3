"""From a dict or a YAML, TOML or JSON file to validated `Settings`.

Every problem raises `ConfigurationError` whose ``field`` is where it is: the
dotted path inside the configuration (``aliases.fast.chain[1].timeout``), or
the file for a file that cannot be read or parsed.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from .._errors import ConfigurationError
from ._schema import ENTRY_TAGS, PROVIDERS, AliasRef, Entry, Settings

__all__ = ["SUFFIXES", "parse", "read"]

#: File suffixes `read` understands, each with its format.
SUFFIXES = {".yaml": "YAML", ".yml": "YAML", ".toml": "TOML", ".json": "JSON"}

# Error types whose message pydantic writes for us; ours are phrased as expectations.
_OWN_TYPES = frozenset({"entry_type", "provider_model", "redis_url", "rule"})


def read(path: Path) -> Settings:
    """Read, parse and validate the configuration file at ``path`` (format by suffix)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigurationError(
            str(path), f"unknown file type {path.suffix!r}", "a .yaml, .yml, .toml or .json file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            str(path), f"cannot be read ({exc.strerror or exc})", "a readable file"
        ) from exc
    return parse(_decode(text, SUFFIXES[suffix], path), source=path.name)


def parse(data: object, *, source: str | None = None) -> Settings:
    """Validate ``data`` (a mapping, as a file decodes to) into `Settings`."""
    where = source or "configuration"
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            where,
            f"got {type(data).__name__}",
            "a mapping with aliases, and optionally default, policy and health",
        )
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, source) from exc
    _check_references(settings)
    return settings


def _decode(text: str, kind: str, path: Path) -> object:
    if kind == "YAML":
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ConfigurationError(
                str(path), "PyYAML is not installed", "pip install 'fallback-chain[config]'"
            ) from exc
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            raise _not_parsed(path, kind, f"{at}{getattr(exc, 'problem', None) or exc}") from exc
    try:
        return _toml_loads(text) if kind == "TOML" else json.loads(text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise _not_parsed(path, kind, str(exc)) from exc


def _toml_loads(text: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(text)
    return data


def _not_parsed(path: Path, kind: str, detail: str) -> ConfigurationError:
    return ConfigurationError(
        str(path), f"not valid {kind} ({' '.join(detail.split())})", f"a {kind} mapping"
    )


def _translate(exc: ValidationError, source: str | None) -> ConfigurationError:
    """The first problem as a `ConfigurationError` naming its path; the others counted."""
    found = exc.errors(include_url=False)
    # A list whose items failed is also reported as too short: keep only the items' errors.
    errors = [
        e
        for e in found
        if e["type"] != "too_short"
        or not any(
            len(o["loc"]) > len(e["loc"]) and o["loc"][: len(e["loc"])] == e["loc"] for o in found
        )
    ]
    first = _explain(errors[0])
    problem = first.problem
    notes = [f"in {source}"] if source else []
    if len(errors) > 1:
        others = ", ".join(_explain(e).field for e in errors[1:4])
        more = "..." if len(errors) > 4 else ""
        notes.append(f"{len(errors) - 1} more problem(s): {others}{more}")
    if notes:
        problem = f"{problem} ({'; '.join(notes)})"
    error = ConfigurationError(first.field, problem, first.expected)
    error.suggestions = first.suggestions
    return error


def _explain(error: ErrorDetails) -> ConfigurationError:
    """One pydantic error as (dotted path, what is wrong, what would be accepted)."""
    path = _path(error["loc"])
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "unknown_field":
        field = f"{path}.{ctx['field']}" if path else str(ctx["field"])
        allowed = str(ctx["allowed"]).split(", ")
        return ConfigurationError.unknown(field, str(ctx["field"]), allowed, "field")
    if kind == "unknown_provider":
        return ConfigurationError.unknown(f"{path}.model", ctx["provider"], PROVIDERS, "provider")
    if kind == "missing":
        return ConfigurationError(path, "missing", "a value")
    got = f"got {_short(error.get('input'))}"
    if kind == "too_short":
        return ConfigurationError(path, "empty", f"at least {ctx.get('min_length', 1)} entry")
    if kind == "string_too_short":
        return ConfigurationError(path, got, "a non-empty string")
    if kind in _OWN_TYPES:
        return ConfigurationError(path, got, error["msg"])
    message = error["msg"].removeprefix("Input should be ").removeprefix("Value should have ")
    return ConfigurationError(path, got, message)


def _path(loc: Sequence[int | str]) -> str:
    """``('aliases', 'fast', 'chain', 1, 'timeout')`` -> ``aliases.fast.chain[1].timeout``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ENTRY_TAGS and part != "[key]":
            path += f".{part}" if path else part
    return path


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _check_references(settings: Settings) -> None:
    """Every alias reference names an alias, and no alias leads back to itself."""
    chains: list[tuple[str, Sequence[Entry]]] = [("default", settings.default)]
    chains += [(f"aliases.{name}.chain", spec.chain) for name, spec in settings.aliases.items()]
    for where, chain in chains:
        for i, item in enumerate(chain):
            if isinstance(item, AliasRef) and item.alias not in settings.aliases:
                raise ConfigurationError.unknown(
                    f"{where}[{i}].alias", item.alias, settings.aliases, "alias"
                )
    for name in settings.aliases:
        _check_no_cycle(settings, [name])


def _check_no_cycle(settings: Settings, path: list[str]) -> None:
    for i, item in enumerate(settings.aliases[path[-1]].chain):
        if not isinstance(item, AliasRef):
            continue
        if item.alias in path:
            loop = " -> ".join([*path[path.index(item.alias) :], item.alias])
            raise ConfigurationError(
                f"aliases.{path[-1]}.chain[{i}].alias",
                f"the aliases refer to each other in a loop ({loop})",
                "alias references that end in model entries",
            )
        _check_no_cycle(settings, [*path, item.alias])
