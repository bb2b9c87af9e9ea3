"""A chain's walk on a fake clock: which limit each read gets, with no real waiting.

The limits are arithmetic on the walk's clock, so a test can check the
seconds a silent hop is given - with the README's real settings - without
waiting them out.
"""

from __future__ import annotations

from typing import Any

from fallback_core import Chain, Delta, StreamTimeoutError
from fallback_core._steps import PRIMARY, Attempt
from fallback_core._walk import Walk


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ClockedWalk:
    """One call's walk along ``chain``'s hops and policy, timed by a `Clock`."""

    def __init__(self, chain: Chain[Any], request: object) -> None:
        self.clock = Clock()
        self.walk = Walk(
            Chain(list(chain.hops), policy=chain.policy, clock=self.clock, rng=chain.rng),
            request,
        )

    def start(self) -> Attempt:
        step = self.walk.next_step()
        assert isinstance(step, Attempt), step
        return step

    def limit(self) -> tuple[str, float]:
        """The phase and seconds left of the limit the next read waits under."""
        pending = self.walk.pending(self.walk.racer(PRIMARY))
        assert pending is not None, "the read may wait forever"
        return pending[0], pending[1]

    def expire(self, at: float) -> StreamTimeoutError:
        """Move to ``at``, where the pending read has run out, and fail the attempt with it."""
        self.clock.now = at
        phase, left = self.limit()
        error = self.walk.expired(self.walk.racer(PRIMARY))
        assert error is not None, f"{phase} still has {left}s at {at}"
        self.walk.fail(error)
        return error


def check_quickstart_share(chain: Chain[Any], request: object, backup: str) -> None:
    """With the README's ``idle_timeout=20, deadline=60`` and two models, as documented.

    A primary that never sends a byte is given up after its 30 s share of the
    deadline; the backup is asked the original request with the other 30 s,
    and once it streams, each gap may last 20 s.
    """
    run = ClockedWalk(chain, request)
    run.start()
    assert run.limit() == ("deadline_share", 30.0)
    error = run.expire(30.0)
    assert (error.phase, error.limit) == ("deadline_share", 30.0)
    step = run.start()
    assert (step.hop.name, step.continuation) == (backup, None)
    assert run.limit() == ("deadline", 30.0)
    run.clock.now = 31.0
    run.walk.accept(Delta(text="The sky"))
    assert run.limit() == ("idle", 20.0)
