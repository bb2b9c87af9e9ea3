"""The backup matrix both adapters are tested over: how backups misbehave, and what must follow.

The primary is cut mid-answer; the backup then answers the request to
continue as one of the fault server's behaviours does. The caller must get
the canonical answer exactly, or a `ChainExhaustedError` whose `partial_text`
is what the primary delivered - never a success with other text.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from fallback_core import ChainExhaustedError
from fallback_core.testing import CANONICAL_ANSWER, Fault, FaultServer, ModelScript, parse_backup

OUTCOMES = {
    "obey": "complete",
    "restart": "complete",  # the verbatim replay is dropped at the seam
    "preface": "error",  # a restart after "Sure! ...": refused
    "reword": "error",  # a restart in other words: refused
    "overlap": "complete",  # the last three words again: dropped
    "overlap=sentence": "complete",
    "strip": "complete",  # the whitespace written again: dropped
    "empty": "error",
    "vllm": "complete",  # without its flags a prefill is a verbatim restart, else obeyed
}
"""Each backup behaviour, and what the caller must get from primary-then-backup."""

STRATEGIES = ("instruct", "prefill", "continue_final_message")

CUTS = {"mid-sentence": 5, "after-paragraph-break": 25}
"""Tokens the primary sends before its connection drops (25: the answer's ``\\n\\n``)."""


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """No scripts: every model shares the server's canonical answer (import it to use it)."""
    return {}


def prepare(server: FaultServer, behaviour: str, cut: int) -> None:
    """Cut the primary after ``cut`` tokens; make the backup answer as ``behaviour`` says."""
    server.set_fault("primary", Fault.cut_after(cut))
    server.set_backup("backup", parse_backup(behaviour))


def check(
    server: FaultServer,
    behaviour: str,
    strategy: str,
    text: str | None,
    error: BaseException | None,
    received: str = "",
) -> None:
    """Assert the call ended as `OUTCOMES` says; ``received`` is what a stream delivered."""
    (primary,) = server.attempts("primary")
    delivered = primary.text_sent
    if OUTCOMES[behaviour] == "complete":
        assert error is None, error
        assert text == CANONICAL_ANSWER
    else:
        assert isinstance(error, ChainExhaustedError), error
        assert error.partial_text == delivered
        assert text is None
        assert received in ("", delivered)  # a stream shows what was delivered, no more
    first, *again = server.attempts("backup")
    # A prefill goes without trailing whitespace; a retry with the instruction carries it all.
    assert first.given == (delivered if strategy == "instruct" else delivered.rstrip())
    assert [a.given for a in again] == [delivered] * len(again)
    assert all(a.continuation for a in (first, *again))
