"""Bad input fails at construction with an error naming the field and what is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from fallback_core import (
    Backoff,
    Breaker,
    Category,
    Chain,
    ConfigurationError,
    Continuation,
    Delta,
    Hop,
    Policy,
    Rule,
)

from .scripted import Scripted, ok


def test_empty_chain_is_rejected() -> None:
    """A chain needs at least one hop."""
    with pytest.raises(ConfigurationError, match="hops: the chain is empty") as info:
        Chain([])
    assert info.value.field == "hops"


def test_hops_must_be_a_list() -> None:
    """A single target instead of a list is named as such."""
    with pytest.raises(ConfigurationError, match="expected a list of hops"):
        Chain(Scripted(ok("x")))  # type: ignore[arg-type]


def test_unsupported_target_is_rejected() -> None:
    """Something that cannot stream is not a target."""
    with pytest.raises(ConfigurationError, match=r"hops\[1\]\.target: str is not a supported"):
        Chain([Scripted(ok("x")), "gpt-4o"])  # type: ignore[list-item]


def test_duplicate_hop_names_are_rejected() -> None:
    """Two hops may not share a name given explicitly."""
    with pytest.raises(ConfigurationError, match=r"hops\[1\]\.name: 'a' is already .*hops\[0\]"):
        Chain([Hop(Scripted(ok("x")), name="a"), Hop(Scripted(ok("y")), name="a")])


def test_derived_names_are_made_unique() -> None:
    """Hops named after the same model get numbered names."""
    chain = Chain([Hop(Scripted(ok("x")), model="m"), Hop(Scripted(ok("y")), model="m")])
    assert [h.name for h in chain.hops] == ["m", "m#2"]


@pytest.mark.parametrize("field", ["timeout", "first_token_timeout", "idle_timeout"])
@pytest.mark.parametrize("value", [0, -1, "5"])
def test_non_positive_timeouts_are_rejected(field: str, value: Any) -> None:
    """Timeouts must be positive numbers of seconds."""
    with pytest.raises(ConfigurationError, match=rf"hops\[0\]\.{field}: .*seconds > 0"):
        Chain([Hop(Scripted(ok("x")), **{field: value})])


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Chain([Hop(Scripted(ok("x")), idle_timeout=True)]), "hops[0].idle_timeout"),
        (lambda: Chain([Hop(Scripted(ok("x")), max_attempts=True)]), "hops[0].max_attempts"),
        (lambda: Policy(deadline=True), "deadline"),
        (lambda: Policy(max_attempts=2.5), "max_attempts"),
        (lambda: Breaker(failure_threshold=True), "Breaker.failure_threshold"),
    ],
)
def test_a_bool_or_a_fraction_is_not_taken_for_a_number(build: Any, field: str) -> None:
    """Seconds and counts are checked alike everywhere: True is not 1 s, 2.5 is not a count."""
    with pytest.raises(ConfigurationError) as caught:
        build()

    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"context_window": -5}, "context_window"),
        ({"continuation": "rewrite"}, "continuation"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_hop_fields_are_named(kwargs: dict[str, Any], field: str) -> None:
    """Each hop field is checked and named in the error."""
    with pytest.raises(ConfigurationError, match=rf"hops\[0\]\.{field}"):
        Chain([Hop(Scripted(ok("x")), **kwargs)])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"deadline": 0}, "deadline"),
        ({"deadline": -1.0}, "deadline"),
        ({"max_retry_after": -1}, "max_retry_after"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"rules": {"rate_limit": Rule()}}, "rules"),
        ({"rules": {Category.SERVER: "sometimes"}}, r"rules\[SERVER\]"),
        ({"classify": 42}, "classify"),
        ({"backoff": 3}, "backoff"),
    ],
)
def test_bad_policy_fields_are_named(kwargs: dict[str, Any], field: str) -> None:
    """Each policy field is checked and named in the error."""
    with pytest.raises(ConfigurationError, match=field):
        Policy(**kwargs)


def test_bad_rule_and_backoff_values_are_rejected() -> None:
    """Negative retries or delays are refused."""
    with pytest.raises(ConfigurationError, match=r"Rule\.retries"):
        Rule(retries=-1)
    with pytest.raises(ConfigurationError, match="Backoff"):
        Backoff(initial=-1)


def test_chain_level_arguments_are_checked() -> None:
    """policy, hooks and the continue instruction are validated too."""
    target = Scripted(ok("x"))
    with pytest.raises(ConfigurationError, match="policy"):
        Chain([target], policy={"deadline": 3})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"hooks\[0\]"):
        Chain([target], hooks=["not callable"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="continue_instruction"):
        Chain([target], continue_instruction="  ")


class Nested:
    """A target that delegates to another chain, as an adapter wrapping a fallback model does."""

    def __init__(self) -> None:
        self.fallback_chain: Chain[Any] | None = None

    def stream(self, request: Any, continuation: Continuation | None) -> Any:
        return iter([Delta(text="x", finish_reason="stop")])

    def astream(self, request: Any, continuation: Continuation | None) -> Any:
        raise NotImplementedError


def test_chain_that_contains_itself_is_rejected() -> None:
    """A chain reaching itself through a nested chain would recurse forever; it is refused."""
    inner_target = Nested()
    inner = Chain([Hop(inner_target, name="loop")])
    inner_target.fallback_chain = inner  # the adapter's object now points back at its own chain
    with pytest.raises(ConfigurationError, match="contains itself"):
        Chain([Hop(Nested(), name="first"), Hop(inner_target, name="nested")])


def test_nested_chain_without_cycle_is_accepted() -> None:
    """A chain may use another chain as a hop."""
    inner = Chain([Hop(Scripted(ok("x")), name="inner")])
    wrapper = Nested()
    wrapper.fallback_chain = inner
    outer = Chain([Hop(wrapper, name="nested"), Hop(Scripted(ok("y")), name="last")])
    assert [h.name for h in outer.hops] == ["nested", "last"]


def test_backoff_is_full_jitter_and_capped() -> None:
    """Retry n waits between 0 and min(maximum, initial * 2**(n-1))."""
    backoff = Backoff(initial=0.5, maximum=3.0)
    for n, high in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (30, 3.0)]:
        waits = [backoff(n) for _ in range(200)]
        assert all(0 <= w <= high for w in waits)
        assert max(waits) > high / 2, "the window widens with each retry"


def test_policy_annotations_evaluate_at_runtime() -> None:
    """Frameworks that read annotations (pydantic, get_type_hints) can evaluate Policy's."""
    import typing

    hints = typing.get_type_hints(Policy)
    assert {"rules", "classify", "backoff", "deadline", "hedge_after"} <= set(hints)


def test_a_seeded_chain_retries_on_its_own_reproducible_schedule() -> None:
    """The default backoff draws its jitter from the chain's ``rng``: two chains seeded alike
    wait alike, and the global ``random`` is left untouched."""
    import random

    from fallback_core import RetryScheduled

    from .errors import openai_error

    def delays(seed: int) -> list[float]:
        events: list[object] = []
        chain = Chain(
            [Hop(Scripted(openai_error(500), ok("fine")), name="p")],
            policy=Policy(backoff=Backoff(initial=0.001, maximum=0.002)),
            rng=random.Random(seed),
            hooks=[events.append],
        )
        assert "".join(d.text for d in chain.stream("r")) == "fine"
        return [e.delay for e in events if isinstance(e, RetryScheduled)]

    random.seed(1)
    expected_next = random.random()
    random.seed(1)
    first, again, other = delays(7), delays(7), delays(8)
    assert random.random() == expected_next, "the global random was drawn from"
    assert len(first) == 1
    assert first == again
    assert first != other


def test_a_built_chain_cannot_be_changed() -> None:
    """A chain is immutable in fact: setting or deleting any of its attributes is refused
    with an error that says to build a new chain, and the chain is left as it was."""
    chain = Chain([Hop(Scripted(ok("x")), name="only")])
    for name, value in [("hops", ()), ("policy", Policy()), ("health", None), ("extra", 1)]:
        with pytest.raises(AttributeError, match=f"cannot be changed.*{name}.*new Chain"):
            setattr(chain, name, value)
    with pytest.raises(AttributeError, match=r"cannot be changed.*'hooks'"):
        del chain.hooks
    assert [h.name for h in chain.hops] == ["only"]
    assert "".join(d.text for d in chain.stream("r")) == "x"


def test_a_sleeper_that_is_not_callable_is_refused() -> None:
    """``sleep`` and ``sleep_async`` must be functions of seconds; the error names the field."""
    with pytest.raises(ConfigurationError, match="sleep_async"):
        Chain([Hop(Scripted(ok("x")), name="only")], sleep_async=0.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="sleep"):
        Chain([Hop(Scripted(ok("x")), name="only")], sleep="no")  # type: ignore[arg-type]
