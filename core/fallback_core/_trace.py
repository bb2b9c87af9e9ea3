"""What happened during one call: a record per attempt and a summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ._classify import Category
from ._types import AttemptOutcome, SeamFix, Strategy, Usage

__all__ = ["AttemptRecord", "ChainTrace"]


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt on one hop.

    ``outcome`` is ``"ok"``, ``"failed"``, ``"cancelled"`` or ``"hedge_lost"``; times are seconds,
    ``started`` measured from the start of the call. ``chars`` counts what this
    attempt delivered to the caller. For a continuation, ``continuation`` names
    the strategy, ``overlap_trimmed`` the repeated characters dropped at the
    seam, ``seam_fix`` the whitespace fix made there, and ``seam_held`` /
    ``seam_held_for`` the characters and seconds its start was held back.
    ``cost`` is what its usage cost at the hop's price (None when either is
    unknown).
    """

    hop: str
    model: str | None
    attempt: int
    outcome: AttemptOutcome
    category: Category | None
    error: BaseException | None
    started: float
    elapsed: float
    time_to_first_token: float | None
    chunks: int
    chars: int
    usage: Usage | None
    continuation: Strategy | None
    overlap_trimmed: int = 0
    seam_fix: SeamFix | None = None
    cost: float | None = None
    seam_held: int = 0
    seam_held_for: float = 0.0

    def describe(self) -> str:
        """One line for an error message or a log."""
        model = f" ({self.model})" if self.model else ""
        what: str = self.outcome
        if self.error is not None:
            kind = self.category.value if self.category else "error"
            what = f"{kind}: {type(self.error).__name__}: {self.error}"
        return f"{self.hop}{model} attempt {self.attempt}: {what} after {self.elapsed:.3f}s"


@dataclass(frozen=True, slots=True)
class ChainTrace:
    """Summary of one call through a chain.

    ``served_by`` / ``served_model`` name the hop whose stream finished the
    answer (None if none did). ``usage`` merges every hop that reported usage;
    ``usage_by_hop`` keeps each hop's own counts. ``cost`` sums the attempts
    whose cost is known (None if none is), failed attempts included.
    """

    attempts: tuple[AttemptRecord, ...]
    served_by: str | None
    served_model: str | None
    latency: float
    usage: Usage | None
    usage_by_hop: tuple[tuple[str, Usage], ...]
    finish_reason: str | None
    cost: float | None = None

    @classmethod
    def of(
        cls,
        attempts: Sequence[AttemptRecord],
        served: tuple[str | None, str | None],
        latency: float,
        finish_reason: str | None,
    ) -> ChainTrace:
        """The summary of ``attempts``, the hop and model that ``served`` the answer."""
        by_hop: dict[str, Usage] = {}
        for record in attempts:
            if record.usage is not None:
                seen = by_hop.get(record.hop)
                by_hop[record.hop] = record.usage if seen is None else seen + record.usage
        merged = None
        for usage in by_hop.values():
            merged = usage if merged is None else merged + usage
        costs = [r.cost for r in attempts if r.cost is not None]
        return cls(
            attempts=tuple(attempts),
            served_by=served[0],
            served_model=served[1],
            latency=latency,
            usage=merged,
            usage_by_hop=tuple(by_hop.items()),
            finish_reason=finish_reason,
            cost=sum(costs) if costs else None,
        )

    @property
    def fell_back(self) -> bool:
        """Whether any hop other than the first was used."""
        return len({a.hop for a in self.attempts}) > 1

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form, for response metadata and logs."""
        return {
            "served_by": self.served_by,
            "served_model": self.served_model,
            "latency": round(self.latency, 6),
            "finish_reason": self.finish_reason,
            "usage": _usage_dict(self.usage),
            "usage_by_hop": {hop: _usage_dict(u) for hop, u in self.usage_by_hop},
            "cost": self.cost,
            "attempts": [
                {
                    "hop": a.hop,
                    "model": a.model,
                    "attempt": a.attempt,
                    "outcome": a.outcome,
                    "category": a.category.value if a.category else None,
                    "error": f"{type(a.error).__name__}: {a.error}" if a.error else None,
                    "started": round(a.started, 6),
                    "elapsed": round(a.elapsed, 6),
                    "time_to_first_token": None
                    if a.time_to_first_token is None
                    else round(a.time_to_first_token, 6),
                    "chunks": a.chunks,
                    "chars": a.chars,
                    "continuation": a.continuation,
                    "overlap_trimmed": a.overlap_trimmed,
                    "seam_fix": a.seam_fix,
                    "usage": _usage_dict(a.usage),
                    "cost": a.cost,
                    "seam_held": a.seam_held,
                    "seam_held_for": round(a.seam_held_for, 6),
                }
                for a in self.attempts
            ],
        }


def _usage_dict(usage: Usage | None) -> dict[str, int | None] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
