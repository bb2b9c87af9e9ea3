"""The checks constructors make of numbers: each refuses bad input with the field's name.

Every time, count and limit a user gives - a hop's timeouts, a policy's
deadline, a breaker's cooldown, a store's refresh - is checked by one of these,
so the same mistake reads the same wherever it is made. A bool is never taken
for a number.
"""

from __future__ import annotations

from typing import TypeGuard

from ._errors import ConfigurationError

__all__ = ["check_count", "check_seconds"]


def check_seconds(
    field: str, value: object, *, allow_none: bool = True, allow_zero: bool = False
) -> None:
    """Refuse ``value`` unless it is seconds > 0 (>= 0 with ``allow_zero``), or None if allowed."""
    if value is None and allow_none:
        return
    if _number(value) and (value > 0 or (allow_zero and value == 0)):
        return
    expected = f"seconds {'>= 0' if allow_zero else '> 0'}{', or None' if allow_none else ''}"
    raise ConfigurationError(field, f"got {value!r}", expected)


def check_count(field: str, value: object, *, minimum: int = 1, allow_none: bool = False) -> None:
    """Refuse ``value`` unless it is an int >= ``minimum``, or None if allowed."""
    if value is None and allow_none:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return
    expected = f"an int >= {minimum}{', or None' if allow_none else ''}"
    raise ConfigurationError(field, f"got {value!r}", expected)


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
