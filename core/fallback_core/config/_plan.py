"""One alias's chain, planned: its own entries, then the default chain, each resolved or skipped.

The core never builds a model itself. An adapter passes a resolver - any
callable taking a `ModelEntry` and returning what the adapter will wrap as a
hop, or raising `Unresolvable` with the reason it cannot - and gets back the
usable entries in order, with unique hop names, plus everything skipped. The
members of a tier stay together (`PlannedHop.tier`), and `Plan.arrange` lays
the chain out as the adapter's hops and tiers; a tier whose every member was
skipped leaves no place behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from .._classify import Category
from .._cost import Price
from .._errors import ConfigurationError
from .._policy import Action, Policy, Rule
from .._toolkit import HopOptions
from .._types import unique_name
from ._errors import AliasResolved, EntrySkipped, NoUsableModelError, Unresolvable
from ._schema import AliasRef, Entry, ModelEntry, PolicySpec, RuleSpec, Settings, TierSpec

__all__ = [
    "API_KEY_VARIABLES",
    "Plan",
    "PlannedHop",
    "PlannedTier",
    "make_plan",
    "require_api_key",
]

T = TypeVar("T")
H = TypeVar("H")
P = TypeVar("P")

#: Providers whose clients need an API key, and the environment variable each reads it from.
API_KEY_VARIABLES: Mapping[str, str] = MappingProxyType(
    {
        "anthropic": "ANTHROPIC_API_KEY",
        "cohere": "COHERE_API_KEY",
        "deepseek": "DEEPSEEK_API_KEY",
        "fireworks": "FIREWORKS_API_KEY",
        "groq": "GROQ_API_KEY",
        "mistralai": "MISTRAL_API_KEY",
        "openai": "OPENAI_API_KEY",
        "openrouter": "OPENROUTER_API_KEY",
        "together": "TOGETHER_API_KEY",
        "xai": "XAI_API_KEY",
    }
)

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class PlannedTier:
    """The tier an entry belongs to: where it is in the file, and its name if it has one."""

    where: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedHop(Generic[T]):
    """A usable entry: its hop name (unique in the chain), the entry, what was built, its place.

    ``entry.options`` have their ``${NAME}`` references filled in. ``tier`` is
    set for the members of a tier.
    """

    name: str
    entry: ModelEntry
    target: T
    where: str
    tier: PlannedTier | None = None

    def hop_options(self) -> dict[str, Any]:
        """The entry's hop settings, as keywords for an adapter's hop (``ChatHop``, ``LLMHop``)."""
        own = {f.name: getattr(self.entry, f.name) for f in fields(HopOptions)}
        return {**own, "name": self.name}


@dataclass(frozen=True, slots=True)
class Plan(Generic[T]):
    """What an alias's chain is made of: the usable hops in order, and what was skipped."""

    alias: str
    hops: tuple[PlannedHop[T], ...]
    skipped: tuple[EntrySkipped, ...]
    policy_fields: Mapping[str, Any]

    def arrange(
        self,
        hop: Callable[[PlannedHop[T]], H],
        tier: Callable[[list[H], str | None], P],
    ) -> list[H | P]:
        """The chain's places in order: ``hop(planned)`` for an entry, and for a tier
        ``tier(members, name)``, its members built with ``hop`` in the file's order."""
        order: list[H | PlannedTier] = []
        members: dict[PlannedTier, list[H]] = {}
        for planned in self.hops:
            built = hop(planned)
            if planned.tier is None:
                order.append(built)
                continue
            if planned.tier not in members:
                members[planned.tier] = []
                order.append(planned.tier)
            members[planned.tier].append(built)
        return [
            tier(members[place], place.name) if isinstance(place, PlannedTier) else place
            for place in order
        ]

    def policy(self, **overrides: Any) -> Policy:
        """The alias's `Policy`; ``overrides`` (Policy fields) win, ``rules`` merged by category."""
        fields = dict(self.policy_fields)
        rules = dict(fields.pop("rules", {}))
        extra = overrides.pop("rules", {})
        if not isinstance(extra, Mapping):
            raise ConfigurationError("rules", f"got {type(extra).__name__}", "a mapping")
        return Policy(**{**fields, **overrides}, rules={**rules, **extra})


def require_api_key(entry: ModelEntry) -> None:
    """Raise `Unresolvable` if ``entry``'s provider needs an API key and none is given.

    A key counts as given by an ``api_key`` (or ``<something>_api_key``)
    option or by the provider's environment variable (`API_KEY_VARIABLES`).
    """
    variable = API_KEY_VARIABLES.get(entry.provider)
    if variable is None or os.environ.get(variable):
        return
    if any(k == "api_key" or k.endswith("_api_key") for k, v in entry.options.items() if v):
        return
    raise Unresolvable(f"no API key: set {variable} or give the entry an api_key option")


def make_plan(
    settings: Settings,
    alias: str,
    resolve: Callable[[ModelEntry], T],
    report: Callable[[EntrySkipped | AliasResolved], None],
) -> Plan[T]:
    """Plan ``alias``'s chain; raise `NoUsableModelError` if no entry can be used.

    Each skipped entry is passed to ``report`` as it happens, then an
    `AliasResolved` summing up the look-up. An unknown alias is a
    `ConfigurationError` naming the closest configured ones. An entry equal to an
    earlier one (the default chain repeating an alias's model) is left out.
    """
    skipped: list[EntrySkipped] = []

    def skip(entry: str, where: str, reason: str) -> None:
        record = EntrySkipped(alias, entry, where, reason)
        skipped.append(record)
        report(record)

    spec = settings.aliases.get(alias)
    if spec is None:
        raise ConfigurationError.unknown("alias", alias, settings.aliases, "alias")
    places = list(_expand(settings, spec.chain, f"aliases.{alias}.chain"))
    if spec.use_default:
        places += _expand(settings, settings.default, "default")
    hops: list[PlannedHop[T]] = []
    taken: set[str] = set()
    for where, entry, tier in _first_of_each(places):
        try:
            ready = _with_environment(entry)
            target = resolve(ready)
        except Unresolvable as exc:
            skip(entry.model, where, exc.reason)
            continue
        name = unique_name(entry.name or entry.model, taken)
        hops.append(PlannedHop(name, ready, target, where, tier))
    report(AliasResolved(alias, len(hops), len(skipped), True))
    if not hops:
        raise NoUsableModelError(alias, skipped)
    return Plan(alias, tuple(hops), tuple(skipped), _policy_fields(settings.policy, spec.policy))


_Place = tuple[str, ModelEntry, PlannedTier | None]


def _expand(settings: Settings, chain: Sequence[Entry], where: str) -> Iterator[_Place]:
    """The model entries of ``chain`` in order, alias references replaced by their entries.

    A tier's entries come with the tier they belong to. Validation has made
    sure every reference names an alias and none loops.
    """
    for i, item in enumerate(chain):
        if isinstance(item, AliasRef):
            target = settings.aliases[item.alias].chain
            yield from _expand(settings, target, f"aliases.{item.alias}.chain")
        elif isinstance(item, TierSpec):
            tier = PlannedTier(f"{where}[{i}]", item.name)
            for j, entry in enumerate(item.tier):
                yield f"{where}[{i}].tier[{j}]", entry, tier
        else:
            yield f"{where}[{i}]", item, None


def _first_of_each(places: Sequence[_Place]) -> list[_Place]:
    kept: list[_Place] = []
    for place in places:
        if all(place[1] != earlier[1] for earlier in kept):
            kept.append(place)
    return kept


def _with_environment(entry: ModelEntry) -> ModelEntry:
    """``entry`` with each ``${NAME}`` in its options replaced by the environment's value."""
    options = _fill(entry.options)
    return entry if options == entry.options else entry.model_copy(update={"options": options})


def fill_environment(text: str) -> str:
    """``text`` with each ``${NAME}`` replaced by the environment's value (else `Unresolvable`)."""
    return str(_fill(text))


def _fill(value: Any) -> Any:
    if isinstance(value, str):
        return _VARIABLE.sub(_lookup, value)
    if isinstance(value, Mapping):
        return {key: _fill(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item) for item in value]
    return value


def _lookup(match: re.Match[str]) -> str:
    value = os.environ.get(match.group(1))
    if not value:
        raise Unresolvable(f"environment variable {match.group(1)} is not set")
    return value


def _policy_fields(shared: PolicySpec, own: PolicySpec | None) -> Mapping[str, Any]:
    """The Policy fields the configuration sets: the shared ones, then the alias's own."""
    fields: dict[str, Any] = {}
    rules: dict[Category, Rule] = {}
    prices: dict[str, Price] = {}
    for spec in (shared, own):
        if spec is None:
            continue
        fields.update(
            {name: getattr(spec, name) for name in spec.model_fields_set - {"rules", "prices"}}
        )
        for category, rule in spec.rules.items():
            rules[category] = _rule(rules.get(category, _DEFAULT_POLICY.rule(category)), rule)
        prices.update({name: Price(p.input, p.output) for name, p in spec.prices.items()})
    if rules:
        fields["rules"] = rules
    if prices:
        fields["prices"] = prices
    return MappingProxyType(fields)


def _rule(base: Rule, spec: RuleSpec) -> Rule:
    return Rule(
        retries=base.retries if spec.retries is None else spec.retries,
        then=base.then if spec.then is None else Action(spec.then),
    )
