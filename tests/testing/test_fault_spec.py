"""The fault values themselves: the text form, validation, and which attempt each strikes."""

from __future__ import annotations

import pytest

import fallback_core.testing
from fallback_core.testing import Fault, parse_fault
from fallback_core.testing._faults import FaultBook, pick
from tests.core.test_package import isort_key


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("cut_after=5", Fault.cut_after(5)),
        ("cut_after:5", Fault.cut_after(5)),
        ("stall_after=3,0.5", Fault.stall_after(3, 0.5)),
        ("stall_after:n=3", Fault.stall_after(3)),
        ("server_error=503", Fault.server_error(503)),
        ("rate_limit", Fault.rate_limit()),
        ("rate_limit=2.5", Fault.rate_limit(retry_after=2.5)),
        ("rate_limit=retry_after_ms=800,times=1", Fault.rate_limit(retry_after_ms=800, times=1)),
        ("malformed_chunk=2", Fault.malformed_chunk(2)),
        ("slow_first_token=0.25", Fault.slow_first_token(0.25)),
        (" no_response ", Fault.no_response()),
        ("flapping:0.3,502", Fault.flapping(0.3, 502)),
        (
            "rate_limit:times=1+cut_after:3",
            Fault.sequence(Fault.rate_limit(times=1), Fault.cut_after(3)),
        ),
    ],
)
def test_text_form_reads_into_the_same_fault_as_the_classmethod(spec: str, expected: Fault) -> None:
    """Every documented spelling of a fault parses to the value its classmethod builds."""
    assert parse_fault(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "explode",
        "cut_after=five",
        "cut_after=1,2",
        "server_error=404",
        "sequence",
        "rate_limit=x=1",
    ],
)
def test_text_form_that_is_not_a_fault_raises_value_error(spec: str) -> None:
    """Unknown names, bad numbers and wrong arguments are refused with ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011  (messages vary by mistake)
        parse_fault(spec)


def test_fault_values_check_their_arguments() -> None:
    """Counts and durations that cannot make sense are refused when the fault is built."""
    with pytest.raises(ValueError, match="times"):
        Fault.rate_limit(times=0)
    with pytest.raises(ValueError, match="negative"):
        Fault.cut_after(-1)
    with pytest.raises(ValueError, match="5xx"):
        Fault.server_error(429)


def test_sequence_strikes_step_by_step_and_flattens_nested_sequences() -> None:
    """A sequence gives each step one attempt (or its `times`), nested sequences included."""
    first, second, third = Fault.rate_limit(times=2), Fault.server_error(), Fault.cut_after(1)
    fault = Fault.sequence(first, Fault.sequence(second, third))

    struck = [pick(fault, attempt, elapsed=0.0) for attempt in range(6)]

    assert struck == [first, first, second, third, None, None]


def test_fault_book_counts_attempts_per_model_and_starts_over_when_set_again() -> None:
    """Each model counts its own attempts; setting a fault again resets the count."""
    book = FaultBook()
    once = Fault.server_error(times=1)
    book.set("a", once)
    book.set("b", once)

    drawn = [book.draw("a"), book.draw("a"), book.draw("b"), book.draw("c")]
    book.set("a", once)

    assert drawn == [once, None, once, None]
    assert book.draw("a") == once


def test_flapping_follows_the_injected_clock() -> None:
    """A flapping fault strikes until `down_for` has passed on the book's clock."""
    now = [100.0]
    book = FaultBook(clock=lambda: now[0])
    book.set("a", Fault.flapping(down_for=5.0))

    before = book.draw("a")
    now[0] += 5.0
    after = book.draw("a")

    assert before is not None
    assert before.name == "flapping"
    assert after is None


def test_package_exports_are_sorted_and_complete() -> None:
    """`__all__` lists every public name of the package, sorted as ruff's RUF022 keeps it."""
    exported = fallback_core.testing.__all__
    public = {
        name
        for name, value in vars(fallback_core.testing).items()
        if not name.startswith("_") and not isinstance(value, type(fallback_core))
    } - {"annotations"}

    assert exported == sorted(exported, key=isort_key)
    assert set(exported) == public
