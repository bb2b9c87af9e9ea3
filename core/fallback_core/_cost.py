"""What an attempt costs: prices per model, a call's ceiling, and the caller's token cap.

Prices are the user's: no price list ships with the package, because prices
change and differ by contract. A `Price` is in currency units (say US dollars)
per million tokens, as providers publish them. `Prices` finds the price of a
hop by the hop's name first, then by its model name, where a table entry also
covers the provider's dated snapshots of it (``gpt-4o`` covers
``gpt-4o-2024-08-06``, never ``gpt-4o-mini``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from ._errors import ConfigurationError
from ._types import Continuation, Usage, rough_tokens

if TYPE_CHECKING:
    from ._chain import Hop
    from ._trace import AttemptRecord

__all__ = [
    "Price",
    "PriceLike",
    "Prices",
    "capped",
    "expected_cost",
    "output_cap",
    "tokens_written",
]

# What may follow a table's model name in a served model's name: a dated or
# versioned snapshot (``-2024-08-06``, ``-20241022``, ``@20241022``, ``-v2:0``).
_SNAPSHOT = re.compile(r"[-@]v?\d[\w.:-]*")
_KEYS = ("input", "output")

# The names integrations give the cap on an answer's tokens, as a call option or a model field.
_CAP_NAMES = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens")


@dataclass(frozen=True, slots=True)
class Price:
    """Prices per million tokens: ``input`` for the prompt, ``output`` for the answer."""

    input: float
    output: float

    def __post_init__(self) -> None:
        for name in ("input", "output"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(
                    f"Price.{name}", f"got {value!r}", "a number >= 0 (per million tokens)"
                )

    def of(self, usage: Usage) -> float | None:
        """The cost of ``usage``; None when it reports neither input nor output tokens."""
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        return self.for_tokens(usage.input_tokens or 0, usage.output_tokens or 0)

    def for_tokens(self, input_tokens: int, output_tokens: int) -> float:
        """The cost of ``input_tokens`` read and ``output_tokens`` written."""
        return (input_tokens * self.input + output_tokens * self.output) / 1_000_000


PriceLike: TypeAlias = Price | tuple[float, float] | Mapping[str, float]


class Prices:
    """A read-only table of prices, keyed by hop name or model name."""

    __slots__ = ("_table",)

    def __init__(self, table: Mapping[str, PriceLike] | None = None) -> None:
        if table is not None and not isinstance(table, Mapping):
            raise ConfigurationError(
                "prices", f"got {type(table).__name__}", "a mapping of model names to prices"
            )
        checked = {}
        for key, value in (table or {}).items():
            if not isinstance(key, str) or not key:
                raise ConfigurationError("prices", f"key {key!r}", "model or hop names")
            checked[key] = _coerce(f"prices[{key!r}]", value)
        self._table: Mapping[str, Price] = MappingProxyType(checked)

    def __bool__(self) -> bool:
        return bool(self._table)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Prices) and dict(self._table) == dict(other._table)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._table.items(), key=lambda item: item[0])))

    def __repr__(self) -> str:
        return f"Prices({dict(self._table)!r})"

    def for_hop(self, hop: Hop[Any]) -> Price | None:
        """The price of ``hop``: by its name, else by its model (or a snapshot of one)."""
        table = self._table
        if not table:
            return None
        if hop.name is not None and hop.name in table:
            return table[hop.name]
        model = hop.model
        if model is None:
            return None
        if model in table:
            return table[model]
        covering = [k for k in table if model.startswith(k) and _SNAPSHOT.fullmatch(model, len(k))]
        return table[max(covering, key=len)] if covering else None


def expected_cost(price: Price, hop: Hop[Any], request: object, delivered: str) -> float:
    """What an attempt on ``hop`` should cost at least, before it is made.

    The prompt's estimated tokens (the target's ``estimate_tokens``, plus the
    text a continuation re-sends) at the input price, plus the most the answer
    may write - the target's ``max_output_tokens`` for the request, less what a
    continuation already delivered - at the output price. Without those
    estimates the part is 0, so a hop is skipped only on what is known.
    """
    target = hop.target
    estimate = getattr(target, "estimate_tokens", None)
    prompt = (estimate(request) or 0) if estimate is not None else 0
    written = rough_tokens(delivered) if delivered else 0
    cap = getattr(target, "max_output_tokens", None)
    limit = cap(request) if cap is not None else None
    answer = max(0, limit - written) if limit is not None else 0
    return price.for_tokens(prompt + written, answer)


def output_cap(options: Mapping[str, Any], model: object) -> int | None:
    """The most tokens an answer may have: a call option first, else the model's own setting.

    For a target's ``max_output_tokens``; None when neither names a cap.
    """
    for source in (options.get, lambda name: getattr(model, name, None)):
        for name in _CAP_NAMES:
            value = source(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def tokens_written(records: Sequence[AttemptRecord]) -> int:
    """The tokens of the answer delivered so far, by the attempts that delivered it.

    An attempt's own output-token count where its provider reported one (it
    may include text trimmed at a seam: counting it keeps under the cap), else
    an estimate of four characters a token.
    """
    total = 0
    for record in records:
        if not record.chars:
            continue
        reported = None if record.usage is None else record.usage.output_tokens
        total += reported if reported is not None else -(-record.chars // 4)
    return total


def capped(options: Mapping[str, Any], continuation: Continuation | None) -> dict[str, Any]:
    """``options`` for a hop's call, its token cap lowered to what a continuation has left.

    The cap keeps the name the caller gave it (``max_tokens`` if the cap is the
    model's own setting), so the integration sends it as it would have.
    """
    out = dict(options)
    if continuation is None or continuation.max_tokens is None:
        return out
    name = next((n for n in _CAP_NAMES if out.get(n) is not None), _CAP_NAMES[0])
    out[name] = continuation.max_tokens
    return out


def _coerce(where: str, value: object) -> Price:
    if isinstance(value, Price):
        return value
    if isinstance(value, Mapping):
        for key in value:
            if key not in _KEYS:
                raise ConfigurationError.unknown(where, str(key), _KEYS, kind="price key")
        missing = [key for key in _KEYS if key not in value]
        if missing:
            raise ConfigurationError(
                where, f"no {missing[0]!r} price", "both 'input' and 'output' (per million tokens)"
            )
        return Price(value["input"], value["output"])
    if isinstance(value, tuple) and len(value) == 2:
        return Price(*value)
    raise ConfigurationError(
        where, f"got {value!r}", "a Price, an (input, output) pair or {'input': .., 'output': ..}"
    )
