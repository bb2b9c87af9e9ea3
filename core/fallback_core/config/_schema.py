"""The shape of a chains configuration, validated with pydantic.

Every section rejects fields it does not know, so a typo is an error rather
than a silently ignored setting. Shorthands keep small files small: an entry
may be just ``"provider/model"``, an alias just its list of entries, a rule
just ``"fallback"`` or ``"raise"``, and ``default`` the name of an alias.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .._classify import Category
from .._types import Strategy

__all__ = [
    "ENTRY_TAGS",
    "PROVIDERS",
    "AliasRef",
    "AliasSpec",
    "Entry",
    "HealthSpec",
    "ModelEntry",
    "PolicySpec",
    "RuleSpec",
    "Settings",
    "TierSpec",
]

Seconds = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Weight = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(strict=True, ge=1)]

_PROVIDER_MODEL = re.compile(r"[A-Za-z0-9_.-]+/\S.*")

#: Every provider an entry may name (``-`` read as ``_``): LangChain's ``init_chat_model``
#: providers, the LlamaIndex integrations ``llamaindex_fallback`` knows, and the
#: OpenAI-compatible aliases. Any other name is a typo, refused when the file is loaded.
PROVIDERS = frozenset(
    {
        "anthropic",
        "anthropic_bedrock",
        "azure_ai",
        "azure_openai",
        "baseten",
        "bedrock",
        "bedrock_converse",
        "cohere",
        "deepseek",
        "fireworks",
        "google_anthropic_vertex",
        "google_genai",
        "google_vertexai",
        "groq",
        "huggingface",
        "ibm",
        "litellm",
        "mistralai",
        "nvidia",
        "ollama",
        "openai",
        "openai_compatible",
        "openai_like",
        "openrouter",
        "perplexity",
        "together",
        "upstage",
        "xai",
    }
)


class _Section(BaseModel):
    """A mapping in the file: immutable, and every key must be a known field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        data = cls._expand_shorthand(data)
        if isinstance(data, Mapping):
            for key in data:
                if key not in cls.model_fields:
                    raise PydanticCustomError(
                        "unknown_field",
                        "one of: {allowed}",
                        {"field": str(key), "allowed": ", ".join(cls.model_fields)},
                    )
        return data

    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        return data


class ModelEntry(_Section):
    """One model in a chain: ``provider/model``, the hop's limits, the provider's options.

    The hop fields mirror `fallback_core.Hop`; left unset, the adapter's
    defaults apply (``weight``: the entry's share of traffic inside a
    `TierSpec`, 1 by default). ``options`` go unchanged to the provider's constructor
    (``temperature``, ``base_url``, ``api_key``, ...); a string value may name
    environment variables as ``${NAME}``, read when the entry is resolved.
    """

    model: str
    name: str | None = Field(default=None, min_length=1)
    timeout: Seconds | None = None
    first_token_timeout: Seconds | None = None
    idle_timeout: Seconds | None = None
    max_attempts: Count | None = None
    context_window: Count | None = None
    continuation: Strategy | None = None
    require_finish: Annotated[bool, Field(strict=True)] | None = None
    weight: Weight | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"model": data}
        if not isinstance(data, (Mapping, ModelEntry)):
            raise PydanticCustomError(
                "entry_type",
                "'provider/model', or a mapping with model (or alias, or tier) and its settings",
            )
        model = data.get("model") if isinstance(data, Mapping) else data.model
        if isinstance(model, str) and not _PROVIDER_MODEL.fullmatch(model):
            raise PydanticCustomError(
                "provider_model", "model as 'provider/model', e.g. 'openai/gpt-4o-mini'"
            )
        if isinstance(model, str) and _provider(model) not in PROVIDERS:
            raise PydanticCustomError(
                "unknown_provider", "a known provider", {"provider": _provider(model)}
            )
        return data

    @property
    def provider(self) -> str:
        """The provider, lower-case with ``-`` read as ``_`` (``openai-compatible`` too)."""
        return _provider(self.model)

    @property
    def model_name(self) -> str:
        """The model's name at its provider: everything after the first ``/``."""
        return self.model.split("/", 1)[1]


def _provider(model: str) -> str:
    return model.split("/", 1)[0].lower().replace("-", "_")


class AliasRef(_Section):
    """A place in a chain filled with another alias's entries, in their order."""

    alias: str = Field(min_length=1)


class TierSpec(_Section):
    """One place in a chain held by equivalent deployments (a `fallback_core.Tier`).

    Each call picks one of ``tier``'s entries in proportion to their
    ``weight``; when it fails, another of them is tried before the chain moves
    on to its next place.
    """

    tier: tuple[ModelEntry, ...] = Field(min_length=1)
    name: str | None = Field(default=None, min_length=1)


def _entry_kind(value: Any) -> str:
    if isinstance(value, AliasRef) or (isinstance(value, Mapping) and "alias" in value):
        return "alias reference"
    if isinstance(value, TierSpec) or (isinstance(value, Mapping) and "tier" in value):
        return "tier entry"
    return "model entry"


#: The discriminator tags pydantic puts into error locations; never part of a field path.
ENTRY_TAGS = frozenset({"model entry", "alias reference", "tier entry"})

Entry = Annotated[
    Annotated[ModelEntry, Tag("model entry")]
    | Annotated[AliasRef, Tag("alias reference")]
    | Annotated[TierSpec, Tag("tier entry")],
    Discriminator(_entry_kind),
]


class RuleSpec(_Section):
    """What a failure category does: ``retries`` on the same hop, ``then`` fall back or raise.

    A field left unset keeps the default rule's value for that category.
    """

    retries: Annotated[int, Field(strict=True, ge=0)] | None = None
    then: Literal["fallback", "raise"] | None = None

    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            if data not in ("fallback", "raise"):
                raise PydanticCustomError(
                    "rule", "'fallback' or 'raise', or a mapping with retries and then"
                )
            return {"then": data}
        return data


class PriceSpec(_Section):
    """A model's prices per million tokens: ``input`` for the prompt, ``output`` for the answer."""

    input: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
    output: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]


class PolicySpec(_Section):
    """The configurable part of a `fallback_core.Policy` (functions stay in code).

    ``prices`` are keyed by hop or model name; an alias's own entries add to
    (or replace) the shared ones.
    """

    deadline: Seconds | None = None
    max_attempts: Count | None = None
    hedge_after: Seconds | None = None
    max_retry_after: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    rules: dict[Category, RuleSpec] = Field(default_factory=dict)
    prices: dict[Annotated[str, Field(min_length=1)], PriceSpec] = Field(default_factory=dict)
    max_cost: Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)] | None = None


Share = Annotated[float, Field(strict=False, gt=0, le=1, allow_inf_nan=False)]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class HealthSpec(_Section):
    """Shared health for every chain built from the file: a `fallback_core.Breaker`'s settings,
    and where the circuits live - this process, or the Redis at ``redis``.

    ``redis`` is a ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL; a
    ``${NAME}`` in it reads the environment (a password, say). Every process
    and replica with the same Redis and ``prefix`` shares its circuits.
    ``timeout`` bounds each Redis operation before health is kept locally.
    """

    failure_threshold: Count = 5
    cooldown: Seconds = 30.0
    failure_rate: Share | None = None
    window: Seconds = 60.0
    min_calls: Count = 10
    redis: str | None = None
    prefix: str = Field(default="fallback", min_length=1, pattern=r"^[^{}]+$")
    timeout: Seconds = 0.05

    @field_validator("redis")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(_REDIS_SCHEMES):
            raise PydanticCustomError("redis_url", "a redis://, rediss:// (TLS) or unix:// URL")
        return url


class AliasSpec(_Section):
    """A named chain: its entries in order, its policy, and whether the default chain follows.

    ``policy`` fields set here override the file's top-level ``policy``
    (rules category by category). With ``use_default: false`` the default
    chain is not appended to this alias.
    """

    chain: tuple[Entry, ...] = Field(min_length=1)
    description: str = ""
    policy: PolicySpec = Field(default_factory=PolicySpec)
    use_default: Annotated[bool, Field(strict=True)] = True

    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        return {"chain": data} if isinstance(data, (list, tuple)) else data


class Settings(_Section):
    """A whole configuration: named chains, the default chain, the shared policy and health.

    ``default`` is tried after an alias's own entries (the process-wide level);
    a bare alias name stands for that alias's entries.
    """

    aliases: dict[Annotated[str, Field(min_length=1)], AliasSpec] = Field(default_factory=dict)
    default: tuple[Entry, ...] = ()
    policy: PolicySpec = Field(default_factory=PolicySpec)
    health: HealthSpec | None = None

    @classmethod
    def _expand_shorthand(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("default"), str):
            return {**data, "default": [{"alias": data["default"]}]}
        return data
