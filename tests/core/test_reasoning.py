"""Reasoning deltas: passed through from the serving hop, never part of the answer's text."""

from __future__ import annotations

from typing import Any

from fallback_core import Chain, Delta, Hop, Policy

from ..walking import ClockedWalk
from .conftest import Drive
from .errors import openai_error
from .scripted import Scripted, Stall


def chain(*targets: Scripted, **policy: Any) -> Chain[object]:
    return Chain(
        [Hop(t, name=t.name) for t in targets],  # type: ignore[arg-type]
        policy=Policy(backoff=lambda n: 0.0, **policy),
    )


def thought(text: str) -> Delta:
    return Delta(reasoning=text)


def reasoning(deltas: list[Delta]) -> list[str]:
    return [d.reasoning for d in deltas if d.reasoning]


def test_reasoning_streams_through_ahead_of_the_answer(drive: Drive) -> None:
    """The serving hop's reasoning reaches the caller as it comes, apart from the text."""
    stop = Delta(finish_reason="stop")
    primary = Scripted([thought("Let me"), thought(" think."), "The", " answer", stop], name="p")
    run = drive(chain(primary))
    assert reasoning(run.deltas) == ["Let me", " think."]
    assert run.deltas[0].reasoning == "Let me"
    assert run.text == "The answer"


def test_a_continuing_hop_never_adds_its_reasoning(drive: Drive) -> None:
    """After a cut mid-answer the backup finishes the text; its own thinking is not delivered."""
    primary = Scripted([thought("Plan A."), "The quick", " brown", openai_error(500)], name="p")
    backup = Scripted([thought("Go on."), " fox", Delta(finish_reason="stop")], name="b")
    run = drive(chain(primary, backup))
    assert backup.calls[0].continuation is not None
    assert reasoning(run.deltas) == ["Plan A."]
    assert run.text == "The quick brown fox"


def test_a_hop_that_failed_while_thinking_leaves_a_fresh_start(drive: Drive) -> None:
    """Reasoning alone is not an answer: each fresh attempt (retry, backup) streams its own."""
    primary = Scripted([thought("Hmm"), openai_error(500)], name="p")
    backup = Scripted([thought("Fresh."), "Answer", Delta(finish_reason="stop")], name="b")
    run = drive(chain(primary, backup))
    assert backup.calls[0].continuation is None
    assert len(primary.calls) == 2  # a server error is retried once
    assert reasoning(run.deltas) == ["Hmm", "Hmm", "Fresh."]
    assert run.text == "Answer"


def test_a_hedge_losers_reasoning_never_reaches_the_caller(drive: Drive) -> None:
    """Only the winner of a hedged start is delivered, its reasoning included."""
    primary = Scripted([Stall(5), thought("slow thought"), "late"], name="p")
    backup = Scripted([thought("quick thought"), "fast", Delta(finish_reason="stop")], name="b")
    run = drive(chain(primary, backup, hedge_after=0.05))
    assert run.trace.served_by == "b"
    assert reasoning(run.deltas) == ["quick thought"]
    assert run.text == "fast"


def test_a_thinking_hop_wins_its_hedged_start(drive: Drive) -> None:
    """Reasoning is a start, as text is: a hop thinking before ``hedge_after`` is not hedged."""
    stop = Delta(finish_reason="stop")
    primary = Scripted([thought("Let me think."), Stall(0.2), "Answer", stop], name="p")
    backup = Scripted(["never"], name="b")
    run = drive(chain(primary, backup, hedge_after=0.05))
    assert (run.trace.served_by, run.text) == ("p", "Answer")
    assert reasoning(run.deltas) == ["Let me think."]
    assert backup.calls == []


def test_reasoning_is_a_first_token_and_keeps_the_idle_clock_alive() -> None:
    """A thinking model is a live one: its reasoning ends the first-token wait, as text does."""
    backup = Scripted([], name="b")
    hop = Hop(Scripted([], name="p"), name="p", first_token_timeout=5, idle_timeout=2)  # type: ignore[arg-type]
    run = ClockedWalk(Chain([hop, Hop(backup, name="b")], policy=Policy()), "request")  # type: ignore[arg-type]
    run.start()
    assert run.limit() == ("first_token", 5.0)
    run.clock.now = 1.0
    assert run.walk.accept(thought("thinking")) == thought("thinking")
    assert run.limit() == ("idle", 2.0)
    assert run.walk.text == ""
