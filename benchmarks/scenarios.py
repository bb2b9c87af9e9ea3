"""The scenarios: one question, one canonical answer, and the faults each system meets.

Primary and backup share one `ModelScript`, so a backup that is asked to
continue a broken answer gives exactly the rest of it and a correct fallback
reproduces `ANSWER` character for character. "sloppy-backup" has the same
answer but botches a continuation's seam the way real models do; a scenario's
`backup_behaviour` makes the backup answer the request to continue as an
uncooperative model does (`fallback_core.testing.Backup`): start over
verbatim, or start over in other words.
"""

from __future__ import annotations

from dataclasses import dataclass

from fallback_core.testing import Fault, ModelScript

__all__ = [
    "ANSWER",
    "BACKUP",
    "FLAPPING",
    "MODELS",
    "PRIMARY",
    "QUESTION",
    "QUICK_SCENARIOS",
    "SCENARIOS",
    "SLOPPY_BACKUP",
    "TOKENS",
    "TOKEN_DELAY",
    "Flapping",
    "Scenario",
]

QUESTION = "What does a fallback chain do?"
ANSWER = (
    "A fallback chain tries its models in order. When one fails - an error, a rate limit, "
    "a stall, or a stream that dies halfway through a sentence - the next one takes over "
    "and continues the answer from the exact word where it broke off, so the reader gets "
    "one complete answer with nothing lost and nothing repeated."
)
TOKENS = len(ANSWER.split())
"""Chunks of text the fault server streams per answer (a word each)."""
TOKEN_DELAY = 0.005
"""Seconds between streamed tokens: an answer takes realistic time (~0.3 s)."""

PRIMARY, BACKUP, SLOPPY_BACKUP = "primary", "backup", "sloppy-backup"
MODELS = {
    PRIMARY: ModelScript(ANSWER),
    BACKUP: ModelScript(ANSWER),
    SLOPPY_BACKUP: ModelScript(ANSWER, repeat_words=3, drop_seam_space=True),
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One fault setting: what the primary (and the backup) do on every attempt."""

    key: str
    title: str
    primary: Fault | None = None
    backup: Fault | None = None
    backup_model: str = BACKUP
    prefill: bool = False
    """Our adapters continue on the backup by prefill (as for an Anthropic model)."""
    backup_behaviour: str | None = None
    """How the backup answers a request to continue (`parse_backup`'s text form)."""
    expected: str = "complete"
    """What a fallback system should deliver: "complete", or "error" where raising is right."""

    @property
    def label(self) -> str:
        """The title, starred where raising is our default (see the report's note)."""
        return self.title + ("*" if self.expected == "error" else "")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("healthy", "healthy"),
    Scenario("rate_limit_retry_after", "429 with Retry-After: 1", Fault.rate_limit(retry_after=1)),
    Scenario("rate_limit", "429 without Retry-After", Fault.rate_limit()),
    Scenario("server_error", "503 persistent", Fault.server_error(503)),
    Scenario("reset", "reset before headers", Fault.reset_before_headers()),
    Scenario("no_response", "no response", Fault.no_response()),
    Scenario("slow_first_token", "slow first token (4 s)", Fault.slow_first_token(4.0)),
    Scenario("cut", "stream cut mid-answer", Fault.cut_after(20)),
    Scenario(
        "cut_sloppy",
        "stream cut, backup botches the seam",
        Fault.cut_after(20),
        backup_model=SLOPPY_BACKUP,
    ),
    Scenario(
        "cut_restart",
        "stream cut, backup starts over",
        Fault.cut_after(20),
        backup_behaviour="restart",
    ),
    Scenario(
        "cut_reword",
        "stream cut, backup starts over reworded",
        Fault.cut_after(20),
        backup_behaviour="reword",
        expected="error",
    ),
    Scenario("stall", "stream stall (for good)", Fault.stall_after(20)),
    Scenario("malformed", "malformed chunk", Fault.malformed_chunk(20)),
    Scenario("missing_done", "missing [DONE]", Fault.missing_done()),
    Scenario("context_length", "context length exceeded", Fault.context_length_exceeded()),
    Scenario("content_policy", "content policy", Fault.content_policy(), expected="error"),
    Scenario(
        "prefill_rejected",
        "stream cut, backup rejects prefill",
        Fault.cut_after(20),
        backup=Fault.reject_prefill(),
        prefill=True,
    ),
)

QUICK_SCENARIOS = ("healthy", "cut", "rate_limit_retry_after")


@dataclass(frozen=True, slots=True)
class Flapping:
    """A primary that fails with 503 for `down_for` seconds, then recovers; `requests` in a row."""

    down_for: float = 3.0
    requests: int = 24


FLAPPING = Flapping()
