"""What a fallback cost: prices per hop, cost per attempt and per call, and a per-call ceiling."""

from __future__ import annotations

from typing import Any

import pytest

from fallback_core import (
    Chain,
    ChainExhaustedError,
    ConfigurationError,
    Delta,
    Hop,
    HopSkipped,
    Policy,
    Price,
    Prices,
    StreamTruncatedError,
    Usage,
    output_cap,
)

from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, ok


class Sized(Scripted):
    """A scripted target that states the prompt's size and the answer's cap, like the adapters."""

    def __init__(self, *scripts: Any, prompt: int, cap: int | None) -> None:
        super().__init__(*scripts)
        self.prompt = prompt
        self.cap = cap

    def estimate_tokens(self, request: object) -> int:
        return self.prompt

    def max_output_tokens(self, request: object) -> int | None:
        return self.cap


PRICES = {"small": Price(1.0, 2.0), "large": (10.0, 30.0)}


def test_each_attempt_costs_its_usage_at_its_hops_price_and_the_call_sums_them(
    drive: Drive,
) -> None:
    """A failed attempt's reported usage is paid for too; an unpriced hop's cost is unknown."""
    broken = [Delta(usage=Usage(1000, 0)), "Half", StreamTruncatedError("cut")]
    chain = Chain(
        [
            Hop(Scripted(broken), name="p", model="small"),
            Hop(Scripted(ok(" answer.", usage=Usage(2000, 500))), name="b", model="large"),
        ],
        policy=Policy(prices=PRICES),
    )
    run = drive(chain)
    assert run.text == "Half answer."
    first, second = run.trace.attempts
    assert first.outcome == "failed"
    assert first.cost == pytest.approx(1000 * 1.0 / 1e6)
    assert second.cost == pytest.approx((2000 * 10.0 + 500 * 30.0) / 1e6)
    assert run.trace.cost == pytest.approx(first.cost + second.cost)
    assert run.trace.to_dict()["cost"] == run.trace.cost
    unpriced = Chain([Hop(Scripted(ok("x", usage=Usage(5, 5))), name="u", model="other")])
    run = drive(unpriced)
    assert run.trace.attempts[0].cost is None
    assert run.trace.cost is None


@pytest.mark.parametrize(
    ("model", "priced_as"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-3-5-haiku@20241022", "claude-3-5-haiku"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("gpt-4o-audio-preview", None),
        ("gpt-4", None),
    ],
)
def test_a_table_entry_covers_its_models_dated_snapshots_and_nothing_else(
    model: str, priced_as: str | None
) -> None:
    table = {
        "gpt-4o": Price(2.5, 10),
        "gpt-4o-mini": Price(0.15, 0.6),
        "claude-3-5-haiku": Price(0.8, 4),
    }
    hop = Hop(Scripted(ok("x")), name="h", model=model)
    assert Prices(table).for_hop(hop) == (None if priced_as is None else table[priced_as])


def test_a_hop_name_in_the_table_wins_over_its_model() -> None:
    table = {"gpt-4o": Price(2.5, 10), "azure-east": Price(1, 1)}
    hop = Hop(Scripted(ok("x")), name="azure-east", model="gpt-4o")
    assert Prices(table).for_hop(hop) == Price(1, 1)


def test_a_hop_the_call_cannot_afford_is_skipped_and_the_next_serves(drive: Drive) -> None:
    """Expected cost: the prompt at the input price plus the answer's cap at the output price."""
    large = Sized(ok("never"), prompt=1000, cap=1000)  # 0.01 + 0.03 = 0.04 expected
    small = Sized(ok("Cheap answer.", usage=Usage(1000, 10)), prompt=1000, cap=1000)
    seen: list[object] = []
    chain = Chain(
        [Hop(large, name="big", model="large"), Hop(small, name="cheap", model="small")],
        policy=Policy(prices=PRICES, max_cost=0.01),
        hooks=[seen.append],
    )
    run = drive(chain)
    assert run.text == "Cheap answer."
    assert run.trace.served_by == "cheap"
    assert large.calls == []
    (skipped,) = [e for e in seen if isinstance(e, HopSkipped)]
    assert skipped.hop == "big"
    assert skipped.reason == "expected cost 0.04 would take the call past max_cost 0.01 (0 spent)"


def test_what_a_failed_attempt_spent_counts_against_the_ceiling(drive: Drive) -> None:
    """A backup affordable at the start is passed over once a broken attempt spent the budget."""
    spent_then_cut = [Delta(usage=Usage(4000, 0)), "Half", StreamTruncatedError("cut")]
    primary = Sized(spent_then_cut, prompt=1000, cap=None)  # expects 0.001, spends 0.004
    backup = Sized(ok("never"), prompt=1000, cap=None)  # expects 0.001: 0.005 > 0.0045
    last = Sized(ok(" done.", usage=Usage(10, 10)), prompt=10, cap=10)
    chain = Chain(
        [
            Hop(primary, name="p", model="small"),
            Hop(backup, name="b", model="small"),
            Hop(last, name="free", model="unpriced"),  # no price: always affordable
        ],
        policy=Policy(prices=PRICES, max_cost=0.0045),
    )
    run = drive(chain)
    assert run.text == "Half done."
    assert backup.calls == []
    assert [a.hop for a in run.trace.attempts] == ["p", "free"]
    assert run.trace.cost == pytest.approx(0.004)  # the unpriced hop adds nothing known


def test_a_retry_the_call_can_no_longer_afford_moves_on(drive: Drive) -> None:
    """A 5xx is retried once by default; not when its first attempt spent the budget."""
    spends = Sized([Delta(usage=Usage(3000, 0)), openai_error(503)], prompt=1000, cap=None)
    backup = Sized(ok("Served.", usage=Usage(1, 1)), prompt=1, cap=1)
    chain = Chain(
        [Hop(spends, name="p", model="small"), Hop(backup, name="b", model="small")],
        policy=Policy(prices=PRICES, max_cost=0.0035, backoff=lambda n: 0.0),
    )
    run = drive(chain)
    assert run.text == "Served."
    assert [a.hop for a in run.trace.attempts] == ["p", "b"]


def test_no_affordable_hop_ends_the_call_with_the_reason(drive: Drive) -> None:
    target = Sized(ok("never"), prompt=100_000, cap=None)
    chain = Chain(
        [Hop(target, name="only", model="large")],
        policy=Policy(prices=PRICES, max_cost=0.5),
    )
    run = drive(chain)
    assert isinstance(run.error, ChainExhaustedError)
    assert run.error.reason == "no hop left within max_cost=0.5"
    assert target.calls == []
    assert run.trace.attempts == ()


def test_a_continuation_is_priced_with_the_text_it_resends_and_the_answer_left() -> None:
    from fallback_core._cost import expected_cost

    hop = Hop(Sized(ok("x"), prompt=100, cap=50), name="h", model="small")
    price = Price(1.0, 2.0)
    assert expected_cost(price, hop, "r", "") == pytest.approx((100 * 1 + 50 * 2) / 1e6)
    delivered = "a" * 80  # about 24 tokens by rough_tokens: 80 // 4 + 4
    assert expected_cost(price, hop, "r", delivered) == pytest.approx(
        ((100 + 24) * 1 + (50 - 24) * 2) / 1e6
    )


def test_output_cap_reads_the_call_option_before_the_models_setting() -> None:
    class Model:
        max_tokens = 256

    assert output_cap({"max_tokens": 64}, Model()) == 64
    assert output_cap({}, Model()) == 256
    assert output_cap({"max_completion_tokens": 32}, object()) == 32
    assert output_cap({"max_tokens": None}, object()) is None


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"prices": {"m": Price(1, 1)}, "max_cost": 0}, "max_cost", "a number > 0, or None"),
        ({"prices": {"m": Price(1, 1)}, "max_cost": True}, "max_cost", "got True"),
        ({"max_cost": 1.0}, "max_cost", "no prices to measure it by"),
        ({"prices": {"m": {"inptu": 1, "output": 2}}}, "prices['m']", "did you mean 'input'?"),
        ({"prices": {"m": {"input": 1}}}, "prices['m']", "no 'output' price"),
        ({"prices": {"m": (1, -2)}}, "Price.output", "a number >= 0"),
        ({"prices": {"m": "cheap"}}, "prices['m']", "an (input, output) pair"),
        ({"prices": ["m"]}, "prices", "a mapping of model names to prices"),
        ({"prices": {"": Price(1, 1)}}, "prices", "model or hop names"),
    ],
)
def test_bad_prices_and_ceilings_are_refused_when_the_policy_is_built(
    kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Policy(**kwargs)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_prices_compare_by_content() -> None:
    assert Policy(prices={"m": (1, 2)}) == Policy(prices={"m": Price(1, 2)})
    assert hash(Prices({"m": (1, 2)})) == hash(Prices({"m": Price(1.0, 2.0)}))
    assert repr(Prices({"m": (1, 2)})) == "Prices({'m': Price(input=1, output=2)})"
    assert not Prices()
    assert Price(1, 2).of(Usage()) is None
