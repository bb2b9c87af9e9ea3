"""Scripted misbehaviour: what a fault server does instead of answering well.

A `Fault` is a frozen value made by one of its classmethods. `FaultBook` holds
the fault set for each model and decides, attempt by attempt, which fault (if
any) strikes - counting `times`, walking a `sequence` and timing `flapping`.
`parse_fault` reads the short text form used by the `X-Fault` header and the
command line.
"""

from __future__ import annotations

import difflib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

FaultName = Literal[
    "rate_limit",
    "server_error",
    "reset_before_headers",
    "no_response",
    "slow_first_token",
    "cut_after",
    "stall_after",
    "malformed_chunk",
    "missing_done",
    "context_length_exceeded",
    "content_policy",
    "reject_prefill",
    "error_event",
    "flapping",
    "sequence",
]

FAULT_NAMES: frozenset[str] = frozenset(get_args(FaultName))


@dataclass(frozen=True, slots=True)
class Fault:
    """One way for a model to misbehave; build it with a classmethod, e.g. `Fault.cut_after(5)`.

    `times=N` makes a fault strike on the next N attempts at its model and then
    heal; without it a fault strikes on every attempt until it is replaced or
    cleared. The remaining fields are the fault's parameters (unused ones are None).
    """

    name: FaultName
    times: int | None = None
    status: int | None = None
    after: int | None = None
    seconds: float | None = None
    retry_after: float | None = None
    retry_after_ms: int | None = None
    steps: tuple[Fault, ...] = ()

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be at least 1, got {self.times}")
        if self.after is not None and self.after < 0:
            raise ValueError(f"the token count must not be negative, got {self.after}")
        if self.seconds is not None and self.seconds < 0:
            raise ValueError(f"seconds must not be negative, got {self.seconds}")

    @classmethod
    def rate_limit(
        cls,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
        *,
        times: int | None = None,
    ) -> Fault:
        """HTTP 429 `rate_limit_exceeded`, with `Retry-After` / `retry-after-ms` when given."""
        return cls(
            "rate_limit",
            times=times,
            status=429,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
        )

    @classmethod
    def server_error(cls, status: int = 500, *, times: int | None = None) -> Fault:
        """An HTTP 5xx error (500, 502, 503, 504, 529, ...) with an OpenAI-style error body."""
        if not 500 <= status <= 599:
            raise ValueError(f"a server error needs a 5xx status, got {status}")
        return cls("server_error", times=times, status=status)

    @classmethod
    def reset_before_headers(cls, *, times: int | None = None) -> Fault:
        """Read the request, then reset the TCP connection before sending a byte."""
        return cls("reset_before_headers", times=times)

    @classmethod
    def no_response(cls, *, times: int | None = None) -> Fault:
        """Read the request and never answer, until the client leaves or the server stops."""
        return cls("no_response", times=times)

    @classmethod
    def slow_first_token(cls, delay: float, *, times: int | None = None) -> Fault:
        """Wait `delay` seconds before the first token (after the headers, when streaming)."""
        return cls("slow_first_token", times=times, seconds=delay)

    @classmethod
    def cut_after(cls, n: int, *, times: int | None = None) -> Fault:
        """Send `n` tokens, then close the connection: no finish chunk, no `[DONE]`."""
        return cls("cut_after", times=times, after=n)

    @classmethod
    def stall_after(
        cls, n: int, seconds: float | None = None, *, times: int | None = None
    ) -> Fault:
        """Send `n` tokens, then go silent for `seconds` (None: for good), then carry on."""
        return cls("stall_after", times=times, after=n, seconds=seconds)

    @classmethod
    def malformed_chunk(cls, after: int, *, times: int | None = None) -> Fault:
        """After `after` tokens send an event whose data is `{not json`, then carry on normally."""
        return cls("malformed_chunk", times=times, after=after)

    @classmethod
    def missing_done(cls, *, times: int | None = None) -> Fault:
        """Send the whole stream with its finish chunk but no `data: [DONE]`, then close.

        On the Anthropic API: the `message_delta` with the stop reason, no `message_stop`.
        """
        return cls("missing_done", times=times)

    @classmethod
    def context_length_exceeded(cls, *, times: int | None = None) -> Fault:
        """HTTP 400 with code `context_length_exceeded`, as if the prompt were too long."""
        return cls("context_length_exceeded", times=times, status=400)

    @classmethod
    def content_policy(cls, *, times: int | None = None) -> Fault:
        """HTTP 400 with code `content_policy_violation`."""
        return cls("content_policy", times=times, status=400)

    @classmethod
    def error_event(cls, after: int, status: int = 529, *, times: int | None = None) -> Fault:
        """After `after` tokens of a 200 stream, an error event (529: overloaded), then the end.

        What a provider under load does mid-answer: Anthropic's `event: error`
        (`overloaded_error` for 529, `api_error` for other 5xx, `rate_limit_error`
        for 429), OpenAI's `{"error": ...}` chunk. A request that is not streamed
        gets the error as its HTTP status instead.
        """
        if status != 429 and not 500 <= status <= 599:
            raise ValueError(f"an error event stands for a 429 or 5xx, got {status}")
        return cls("error_event", times=times, status=status, after=after)

    @classmethod
    def reject_prefill(cls, *, times: int | None = None) -> Fault:
        """HTTP 400 for any request ending with an assistant message; others answered normally."""
        return cls("reject_prefill", times=times, status=400)

    @classmethod
    def flapping(cls, down_for: float, status: int = 503) -> Fault:
        """Fail with `status` for `down_for` seconds after being set (or the server start)."""
        if not 500 <= status <= 599:
            raise ValueError(f"a flapping model fails with a 5xx status, got {status}")
        return cls("flapping", status=status, seconds=down_for)

    @classmethod
    def sequence(cls, *faults: Fault) -> Fault:
        """Apply `faults` in order, one attempt each (a step's `times=N`: N attempts), then heal."""
        steps: list[Fault] = []
        for fault in faults:
            steps.extend(fault.steps if fault.name == "sequence" else (fault,))
        return cls("sequence", steps=tuple(steps))


# Positional parameters of each fault in the text form, in order.
FAULT_PARAMETERS: dict[str, tuple[str, ...]] = {
    "rate_limit": ("retry_after", "retry_after_ms"),
    "server_error": ("status",),
    "slow_first_token": ("delay",),
    "cut_after": ("n",),
    "stall_after": ("n", "seconds"),
    "malformed_chunk": ("after",),
    "error_event": ("after", "status"),
    "flapping": ("down_for", "status"),
}
_INTEGER_PARAMETERS = frozenset({"status", "n", "after", "retry_after_ms", "times"})


def parse_fault(spec: str) -> Fault:
    """Read a fault from its text form; raise ValueError when it is not one.

    The form is `name`, `name=arg,...` or `name:arg,...`; an argument is a value
    in the fault's parameter order or `key=value`. Steps joined by `+` make a
    sequence. Examples: `cut_after=5`, `stall_after:3,0.5`, `server_error=503`,
    `rate_limit=retry_after=2,times=1`, `rate_limit:times=1+cut_after:3`.
    """
    steps = [_parse_step(part.strip()) for part in spec.split("+")]
    return steps[0] if len(steps) == 1 else Fault.sequence(*steps)


def _parse_step(spec: str) -> Fault:
    cut = min((i for i in (spec.find("="), spec.find(":")) if i >= 0), default=len(spec))
    name, rest = spec[:cut].strip(), spec[cut + 1 :].strip()
    if name not in FAULT_NAMES or name == "sequence":
        raise ValueError(_unknown(name, spec))
    positional: list[float | int] = []
    keywords: dict[str, float | int] = {}
    order = FAULT_PARAMETERS.get(name, ())
    for arg in filter(None, (a.strip() for a in rest.split(","))):
        key, equals, value = arg.partition("=")
        if not equals:
            if len(positional) >= len(order):
                raise ValueError(f"too many arguments for {name!r} in {spec!r}")
            key, value = order[len(positional)], arg
            positional.append(_number(key, value, spec))
        else:
            keywords[key.strip()] = _number(key.strip(), value, spec)
    factory: Callable[..., Fault] = getattr(Fault, name)
    try:
        return factory(*positional, **keywords)
    except TypeError as exc:
        raise ValueError(f"bad arguments for {name!r} in {spec!r}: {exc}") from None


def _unknown(name: str, spec: str) -> str:
    names = sorted(FAULT_NAMES - {"sequence"})
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    return f"unknown fault {name!r} in {spec!r}{hint} Valid faults: {', '.join(names)}"


def _number(key: str, value: str, spec: str) -> float | int:
    try:
        return int(value) if key in _INTEGER_PARAMETERS else float(value)
    except ValueError:
        raise ValueError(f"{key}={value!r} is not a number in {spec!r}") from None


def pick(fault: Fault, attempt: int, elapsed: float) -> Fault | None:
    """The fault that strikes on the `attempt`-th try (from 0), `elapsed` s after setting."""
    if fault.name == "flapping":
        return fault if elapsed < (fault.seconds or 0.0) else None
    if fault.name == "sequence":
        for step in fault.steps:
            span = step.times or 1
            if attempt < span:
                return pick(step, 0, elapsed)
            attempt -= span
        return None
    if fault.times is not None and attempt >= fault.times:
        return None
    return fault


@dataclass(slots=True)
class _Slot:
    fault: Fault
    set_at: float
    used: int = 0


class FaultBook:
    """The fault set for each model, drawn from safely by the server thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    def set(self, model: str, fault: Fault | None) -> None:
        """Give `model` a fresh `fault` (its counters start over); None clears it."""
        with self._lock:
            if fault is None:
                self._slots.pop(model, None)
            else:
                self._slots[model] = _Slot(fault, self._clock())

    def restart_clocks(self) -> None:
        """Start every time-based fault's clock now (called when the server starts)."""
        with self._lock:
            for slot in self._slots.values():
                slot.set_at = self._clock()

    def clear(self) -> None:
        """Forget every fault and counter."""
        with self._lock:
            self._slots.clear()

    def draw(self, model: str) -> Fault | None:
        """Count one attempt at `model` and return the fault that strikes on it, if any."""
        with self._lock:
            slot = self._slots.get(model)
            if slot is None:
                return None
            slot.used += 1
            return pick(slot.fault, slot.used - 1, self._clock() - slot.set_at)
