"""Programming errors in a hop surface as HopBugError instead of being failed over."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from fallback_core import (
    Category,
    Chain,
    Continuation,
    Delta,
    Health,
    Hop,
    HopBugError,
    Policy,
    request_sent,
)

from .conftest import Drive
from .scripted import Scripted, ok


def _broken_integration() -> None:
    # What an integration does when the installed SDK no longer takes its argument.
    dict(a=1).get("a", "b", "c")  # type: ignore[call-arg]


class Broken:
    """A hop whose code fails before or after its request, as the test says."""

    def __init__(self, error: BaseException | None = None, *, after_sending: bool = False):
        self.error = error
        self.after_sending = after_sending
        self.calls = 0

    def _fail(self) -> None:
        self.calls += 1
        if self.after_sending:
            request_sent()
        if self.error is not None:
            raise self.error
        _broken_integration()

    def stream(self, request: Any, continuation: Continuation | None) -> Iterator[Delta]:
        self._fail()
        yield Delta("never")

    async def astream(self, request: Any, continuation: Continuation | None) -> Any:
        self._fail()
        yield Delta("never")


BUGS = [
    pytest.param(None, id="TypeError-from-a-library"),
    pytest.param(AttributeError("'Client' object has no attribute 'messages'"), id="attribute"),
    pytest.param(NameError("name 'undefined' is not defined"), id="name"),
    pytest.param(ModuleNotFoundError("No module named 'anthropic.types.beta'"), id="import"),
    pytest.param(NotImplementedError("stream"), id="not-implemented"),
]


@pytest.mark.parametrize("error", BUGS)
def test_a_programming_error_before_the_request_raises_naming_the_hop(
    drive: Drive, error: BaseException | None
) -> None:
    """A programming error before the request is sent raises HopBugError; no backup is asked."""
    broken, backup = Broken(error), Scripted(ok("fine"))
    chain = Chain([Hop(broken, name="primary"), Hop(backup, name="backup")])
    run = drive(chain)
    assert isinstance(run.error, HopBugError)
    assert run.error.hop == "primary"
    assert run.error.__cause__ is run.error.error
    assert isinstance(
        run.error.error, (TypeError, AttributeError, NameError, ImportError, NotImplementedError)
    )
    assert "'primary'" in str(run.error)
    assert backup.calls == [], "the backup was never asked"
    assert run.trace.attempts[0].category is Category.BUG


def test_the_bug_names_the_packages_its_traceback_went_through(drive: Drive) -> None:
    """The error names the raising module and the distributions involved, with versions."""
    pytest_version = pytest.__version__

    class ThroughPytest(Broken):
        def _fail(self) -> None:
            pytest.approx(1.0, rel="x") == 1.0  # type: ignore[arg-type]  # noqa: B015

    run = drive(Chain([Hop(ThroughPytest(), name="p"), Hop(Scripted(ok("b")), name="b")]))
    assert isinstance(run.error, HopBugError)
    assert f"pytest {pytest_version}" in run.error.packages
    assert str(run.error.module).startswith("_pytest")
    assert f"pytest {pytest_version}" in str(run.error)


def test_bugs_can_be_failed_over_when_the_policy_says_so(drive: Drive) -> None:
    """Policy(rules={Category.BUG: "fallback"}) restores moving on to the next hop."""
    broken, backup = Broken(), Scripted(ok("from the backup"))
    policy = Policy(rules={Category.BUG: "fallback"})
    run = drive(Chain([Hop(broken, name="p"), Hop(backup, name="b")], policy=policy))
    assert run.error is None
    assert run.text == "from the backup"
    assert [a.category for a in run.trace.attempts] == [Category.BUG, None]


def test_a_programming_error_after_the_request_went_out_is_a_malformed_answer(
    drive: Drive,
) -> None:
    """Once the client said its request was sent, its failure on the answer is failed over."""
    broken, backup = Broken(after_sending=True), Scripted(ok("from the backup"))
    run = drive(Chain([Hop(broken, name="p"), Hop(backup, name="b")]))
    assert run.error is None
    assert run.text == "from the backup"
    assert run.trace.attempts[0].category is Category.MALFORMED


def test_a_programming_error_mid_stream_is_a_malformed_answer(drive: Drive) -> None:
    """A client that breaks after text arrived failed on the answer: the backup continues."""
    primary = Scripted(["The answer ", TypeError("'NoneType' object is not subscriptable")])
    backup = Scripted(ok("is here."))
    run = drive(Chain([Hop(primary, name="p"), Hop(backup, name="b")]))
    assert run.error is None
    assert run.text == "The answer is here."
    assert run.trace.attempts[0].category is Category.MALFORMED


def test_a_bug_does_not_count_against_the_providers_health(drive: Drive) -> None:
    """A broken hop says nothing about its provider: its circuit stays closed."""
    health = Health()
    chain = Chain([Hop(Broken(), name="p"), Hop(Scripted(ok("b")), name="b")], health=health)
    for _ in range(6):
        assert isinstance(drive(chain).error, HopBugError)
    circuit = health.health().get(chain.hops[0].circuit)
    assert circuit is None or circuit.consecutive_failures == 0


def test_hop_bug_error_pickles() -> None:
    """A HopBugError survives pickling (multiprocessing, task queues) with its attributes."""
    error = HopBugError("p", TypeError("x"), ("anthropic 2.0",), "anthropic._client")
    again = pickle.loads(pickle.dumps(error))
    assert (again.hop, again.packages, again.module, str(again)) == (
        "p",
        ("anthropic 2.0",),
        "anthropic._client",
        str(error),
    )
