"""The `Health` a configuration's ``health`` section describes."""

from __future__ import annotations

from .._circuit import Breaker
from .._errors import ConfigurationError
from .._health import Health
from ._errors import Unresolvable
from ._plan import fill_environment
from ._schema import HealthSpec

__all__ = ["build_health"]


def build_health(spec: HealthSpec) -> Health:
    """A `Health` with the section's breaker, on Redis if it names one."""
    breaker = Breaker(
        failure_threshold=spec.failure_threshold,
        cooldown=spec.cooldown,
        failure_rate=spec.failure_rate,
        window=spec.window,
        min_calls=spec.min_calls,
    )
    if spec.redis is None:
        return Health(breaker)
    try:
        url = fill_environment(spec.redis)
    except Unresolvable as exc:
        raise ConfigurationError("health.redis", str(exc), "the variable set") from exc
    try:
        from ..redis import RedisStore
    except ImportError as exc:
        raise ConfigurationError(
            "health.redis",
            "redis-py is not installed",
            "pip install 'fallback-chain[redis]'",
        ) from exc
    return Health(breaker, store=RedisStore(url, prefix=spec.prefix, timeout=spec.timeout))
