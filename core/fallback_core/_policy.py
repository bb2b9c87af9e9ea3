"""What to do about a failure: retry the same hop, fall back, or raise.

A `Policy` is a few small values: a `Rule` per `Category`, a backoff, a cap on
how long a provider's Retry-After is honoured, and budgets. Anywhere a strategy
is expected a plain function works too: ``classify`` may be a function from an
exception to a `Category` (or None for "use the default"), or a mapping from
exception types to categories; ``backoff`` may be a function from the retry
number to seconds.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

import tenacity as _tenacity

from ._classify import Category
from ._cost import Price, PriceLike, Prices
from ._errors import ConfigurationError
from ._valid import check_count, check_seconds
from .checks import AnswerCheck, CheckLike, as_checks

if TYPE_CHECKING:
    from ._chain import Hop

__all__ = ["Action", "Backoff", "Classifier", "Policy", "Rule"]


class Action(enum.Enum):
    """Where the walk goes once a hop's retries for a failure are used up."""

    FALLBACK = "fallback"
    RAISE = "raise"


@dataclass(frozen=True, slots=True)
class Rule:
    """Retry the same hop up to ``retries`` times, then ``then``."""

    retries: int = 0
    then: Action = Action.FALLBACK

    def __post_init__(self) -> None:
        check_count("Rule.retries", self.retries, minimum=0)


RuleLike: TypeAlias = Rule | Action | Literal["fallback", "raise"]

DEFAULT_RULES: Mapping[Category, Rule] = MappingProxyType(
    {
        Category.RATE_LIMIT: Rule(retries=2),
        Category.SERVER: Rule(retries=1),
        Category.TIMEOUT: Rule(),
        Category.CONNECTION: Rule(),
        Category.TRUNCATED: Rule(),
        Category.MALFORMED: Rule(),
        Category.SEAM: Rule(),
        Category.CONTEXT_LENGTH: Rule(),
        Category.CONTENT_POLICY: Rule(then=Action.RAISE),
        Category.AUTH: Rule(),
        Category.BAD_REQUEST: Rule(then=Action.RAISE),
        Category.BUG: Rule(then=Action.RAISE),
        Category.BAD_ANSWER: Rule(),
        Category.UNKNOWN: Rule(),
    }
)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter.

    Retry n waits uniform(0, min(maximum, initial * 2**(n-1))) seconds.
    """

    initial: float = 0.5
    maximum: float = 8.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0:
            raise ConfigurationError("Backoff", "negative delay", "initial >= 0 and maximum >= 0")

    def __call__(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first), drawn from ``rng``
        (a chain passes its own, so a seeded chain retries on a reproducible schedule)."""
        state = _tenacity.RetryCallState(_tenacity.Retrying(), None, (), {})
        state.attempt_number = retry_number
        ceiling = _tenacity.wait_exponential(multiplier=self.initial, max=self.maximum)(state)
        return (rng or _random).uniform(0.0, float(ceiling))


_random = random.Random()


# Real (not string) aliases, so get_type_hints(Policy) and pydantic can evaluate them.
Classifier: TypeAlias = (
    Callable[[BaseException], Category | None] | Mapping[type[BaseException], Category]
)


@dataclass(frozen=True, slots=True)
class Policy:
    """How a chain treats failures, and how much time and how many attempts a call may use.

    ``rules`` overrides the default `Rule` per category (a bare ``"fallback"`` /
    ``"raise"`` keeps the default retries). ``max_retry_after`` caps how long a
    provider's Retry-After is honoured: a longer request moves on to the next hop
    instead of waiting. ``deadline`` bounds the whole call in seconds, and is
    never spent on one hop while others remain: an attempt waits for its first
    text at most an equal share of what is left of the deadline between it and
    each later place in the chain it could still move on to (a tier counts
    once) - with two hops and 60 s left the primary gets 30 s, then the backup
    whatever is left. ``max_attempts`` bounds attempts across all hops. ``prices`` (a `Prices`
    table, or a mapping of hop or model names to prices per million tokens)
    gives each attempt and call a cost; ``max_cost`` then caps a call's cost:
    a hop whose expected cost would take the call past it is skipped.
    ``checks`` judge each finished answer (`fallback_core.checks`): a bad one
    is `Category.BAD_ANSWER`.
    """

    rules: Mapping[Category, RuleLike] = field(default_factory=lambda: DEFAULT_RULES)
    classify: Classifier | None = None
    backoff: Callable[[int], float] = field(default_factory=Backoff)
    max_retry_after: float = 30.0
    deadline: float | None = None
    max_attempts: int | None = None
    hedge_after: float | None = None
    prices: Prices | Mapping[str, PriceLike] = field(default_factory=Prices)
    max_cost: float | None = None
    checks: Sequence[CheckLike] = ()

    def __post_init__(self) -> None:
        merged = dict(DEFAULT_RULES)
        for category, rule in self.rules.items():
            if not isinstance(category, Category):
                raise ConfigurationError(
                    f"rules[{category!r}]", "unknown category", "a fallback_core.Category"
                )
            merged[category] = _coerce_rule(f"rules[{category.name}]", rule, merged[category])
        object.__setattr__(self, "rules", MappingProxyType(merged))
        if self.classify is not None and not (
            callable(self.classify) or isinstance(self.classify, Mapping)
        ):
            raise ConfigurationError(
                "classify",
                f"got {type(self.classify).__name__}",
                "a function exc -> Category | None, or a mapping of exception types to Category",
            )
        if not callable(self.backoff):
            raise ConfigurationError(
                "backoff", "not callable", "a Backoff or a function n -> seconds"
            )
        check_seconds("max_retry_after", self.max_retry_after, allow_zero=True)
        check_seconds("deadline", self.deadline)
        check_seconds("hedge_after", self.hedge_after)
        object.__setattr__(self, "checks", as_checks(self.checks))
        if not isinstance(self.prices, Prices):
            object.__setattr__(self, "prices", Prices(self.prices))
        if self.max_cost is not None:
            cost = self.max_cost
            if isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost <= 0:
                raise ConfigurationError("max_cost", f"got {cost!r}", "a number > 0, or None")
            if not self.prices:
                raise ConfigurationError(
                    "max_cost", "no prices to measure it by", "prices= given as well"
                )
        check_count("max_attempts", self.max_attempts, allow_none=True)

    def rule(self, category: Category) -> Rule:
        """The rule for ``category``, defaults and overrides merged."""
        rule = self.rules[category]
        assert isinstance(rule, Rule)  # __post_init__ turned every override into a Rule
        return rule

    @property
    def answer_checks(self) -> tuple[AnswerCheck, ...]:
        """``checks``, each a check (as __post_init__ made them)."""
        return cast("tuple[AnswerCheck, ...]", self.checks)

    def price_of(self, hop: Hop[Any]) -> Price | None:
        """``hop``'s price per million tokens, if ``prices`` knows it."""
        assert isinstance(self.prices, Prices)  # __post_init__ made it one
        return self.prices.for_hop(hop)

    def category_of(self, exc: BaseException, default: Category) -> Category:
        """The category the user's classifier gives ``exc``, else ``default``."""
        if self.classify is None:
            return default
        if isinstance(self.classify, Mapping):
            for exc_type, category in self.classify.items():
                if isinstance(exc, exc_type):
                    return category
            return default
        chosen = self.classify(exc)
        return default if chosen is None else chosen


def _coerce_rule(name: str, value: object, default: Rule) -> Rule:
    if isinstance(value, Rule):
        return value
    if isinstance(value, str) and value in ("fallback", "raise"):
        value = Action(value)
    if isinstance(value, Action):
        return Rule(retries=default.retries, then=value)
    raise ConfigurationError(
        name, f"got {value!r}", "a Rule, an Action, or one of 'fallback' / 'raise'"
    )
