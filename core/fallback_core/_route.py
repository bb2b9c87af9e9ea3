"""Which hop a call tries next: tiers by weight, context windows, cost, and shared health.

`Route` belongs to one call's `Walk` and keeps the call's own exclusions - hops
given up on, the context window a failure showed too small - so nothing one
call learns leaks into another (shared health is the deliberate exception),
and what the call has spent, so a hop it cannot afford under ``max_cost`` is
passed over.
It reports the hops it passes over as `HopSkipped` events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._circuit import Admission, CircuitState, Verdict
from ._cost import expected_cost
from ._events import Event, HopSkipped
from ._steps import Consult

if TYPE_CHECKING:
    from ._chain import Chain, Hop

__all__ = ["Route"]


class Route:
    """The order of hops for one call."""

    __slots__ = (
        "_asked",
        "_call_id",
        "_chain",
        "_delivered",
        "_known",
        "_over_budget",
        "_prompt_fits",
        "_report",
        "_request",
        "failed",
        "larger_than",
        "spent",
    )

    def __init__(
        self,
        chain: Chain[Any],
        request: object,
        call_id: str,
        report: Callable[[Event], None],
        delivered: Callable[[], str] = str,
    ) -> None:
        self._chain = chain
        self._request = request
        self._call_id = call_id
        self._report = report
        self._prompt_fits: dict[int, bool] | None = None
        self._asked: list[int] = []  # the candidates of the last consultation
        self._known: dict[int, tuple[CircuitState, float]] = {}  # its answer: state, wait
        self.failed: set[int] = set()  # hops this call has given up on
        self.larger_than: int | None = None  # context window the next hop must exceed
        self.spent = 0.0  # what the call's attempts cost so far, where priced
        self._delivered = delivered  # the text the caller has received
        self._over_budget: set[int] = set()  # hops already reported as too costly

    def first(self) -> int:
        """The hop a call starts on (a weighted pick if the first place is a tier)."""
        return next(self.after(None), 0)

    def following(self, index: int) -> int | None:
        """The hop to move on to from ``index``, if any."""
        return next(self.after(index), None)

    def after(self, index: int | None) -> Iterator[int]:
        """The hops to try after ``index`` (from the start if None), in order.

        First the rest of ``index``'s tier in weighted random order, then each
        later place; never a hop this call gave up on, nor one the prompt does
        not fit.
        """
        chain = self._chain
        first = 0 if index is None else chain.group_of[index]
        for group in chain.groups[first:]:
            members = [i for i in group if i != index and i not in self.failed and self.fits(i)]
            yield from _weighted_order(members, chain)

    def consultation(self, index: int, verdicts: tuple[Verdict, ...]) -> Consult:
        """What to ask shared health before calling ``index``: may it, or a hop after it, go?

        The candidates are ``index`` and every hop after it, in order; if
        every circuit is open the one that reopens soonest is called anyway,
        as a probe. ``verdicts`` are recorded first.
        """
        self._asked = [index, *self.after(index)]
        return Consult(verdicts, tuple(self._hop(i).circuit for i in self._asked), force=True)

    def admitted(self, admission: Admission) -> int:
        """The hop to call, from shared health's answer; the hops passed over are reported."""
        asked, chosen = self._asked, admission.chosen
        assert chosen is not None  # a forced consultation always admits one
        forced = admission.waits[chosen] > 0
        for k in range(len(asked) if forced else chosen):
            self._skip(asked[k], admission.waits[k])
        self._known = {i: (admission.states[k], admission.waits[k]) for k, i in enumerate(asked)}
        return asked[chosen]

    def rival(self, index: int) -> int | None:
        """A hop to hedge ``index`` with: the next one shared health last saw closed.

        A hedge never probes an open circuit: it is speculative, a probe is not.
        """
        if self._chain.health is None:
            return self.following(index)
        for candidate in self.after(index):
            state, wait = self._known.get(candidate, (CircuitState.CLOSED, 0.0))
            if state is CircuitState.CLOSED and wait == 0:
                return candidate
            self._skip(candidate, wait)
        return None

    def fits(self, index: int) -> bool:
        """Whether hop ``index`` can take this call's prompt and cost, as far as is known."""
        window = self._hop(index).context_window
        if self.larger_than is not None and window is not None and window <= self.larger_than:
            return False
        return self._prompt_sizes().get(index, True) and self._affordable(index)

    def _affordable(self, index: int) -> bool:
        """Whether an attempt on ``index`` is expected to keep the call within ``max_cost``.

        A hop without a price is always affordable: its cost is unknown.
        """
        policy = self._chain.policy
        hop = self._hop(index)
        price = None if policy.max_cost is None else policy.price_of(hop)
        if price is None:
            return True
        assert policy.max_cost is not None
        expected = expected_cost(price, hop, self._request, self._delivered())
        if self.spent + expected <= policy.max_cost:
            return True
        if index not in self._over_budget:
            self._over_budget.add(index)
            reason = (
                f"expected cost {expected:.6g} would take the call past max_cost "
                f"{policy.max_cost:g} ({self.spent:.6g} spent)"
            )
            self._report(HopSkipped(self._call_id, hop.name or "?", reason, 0.0))
        return False

    def _skip(self, index: int, wait: float) -> None:
        self._report(HopSkipped(self._call_id, self._hop(index).name or "?", "circuit open", wait))

    def _prompt_sizes(self) -> dict[int, bool]:
        """Which hops the prompt fits, by their targets' own estimates (once per call).

        A hop without a window or an estimate fits. If the prompt fits no hop,
        the estimates are ignored: they are estimates, and a provider's own
        context-length error still routes the call.
        """
        if self._prompt_fits is None:
            sizes: dict[int, tuple[int, int]] = {}  # index -> (estimate, window)
            for index, hop in enumerate(self._chain.hops):
                estimate = getattr(hop.target, "estimate_tokens", None)
                if hop.context_window is not None and estimate is not None:
                    tokens = estimate(self._request)
                    if tokens is not None:
                        sizes[index] = (tokens, hop.context_window)
            fits = {i: tokens <= window for i, (tokens, window) in sizes.items()}
            if len(fits) == len(self._chain.hops) and not any(fits.values()):
                fits = {}
            for index, fit in fits.items():
                if not fit:
                    reason = f"prompt of ~{sizes[index][0]} tokens exceeds its window"
                    self._report(
                        HopSkipped(self._call_id, self._hop(index).name or "?", reason, 0.0)
                    )
            self._prompt_fits = fits
        return self._prompt_fits

    def _hop(self, index: int) -> Hop[Any]:
        return self._chain.hops[index]


def _weighted_order(members: list[int], chain: Chain[Any]) -> list[int]:
    """``members`` in a random order where each next pick is in proportion to its weight."""
    if len(members) <= 1:
        return members
    members, order = list(members), list[int]()
    while members:
        weights = [chain.hops[i].weight for i in members]
        if sum(weights) <= 0:  # all zero: uniform
            chain.rng.shuffle(members)
            return order + members
        (k,) = chain.rng.choices(range(len(members)), weights)
        order.append(members.pop(k))
    return order
