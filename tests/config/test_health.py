"""The ``health`` section: one breaker for every chain built from the file, in Redis if named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fallback_core import Breaker, CircuitState, ConfigurationError, LocalStore
from fallback_core.config import ChainConfig
from fallback_core.redis import RedisStore
from fallback_core.testing import Fault, FaultServer
from fallback_core.testing.redis_server import RedisServer

from .conftest import Write

FILE = """
health:
  failure_threshold: 2
  cooldown: 60
  redis: "redis://127.0.0.1:${REDIS_PORT}/0"
  prefix: config-test
  timeout: 2
aliases:
  fast:
    policy: {rules: {server: {retries: 0}}}
    chain:
      - model: openai/primary
        options: {base_url: "${FAULT_URL}", api_key: test}
      - model: openai_like/backup
        options: {base_url: "${FAULT_URL}", api_key: test}
  li:
    - model: openai_like/backup
      options: {api_base: "${FAULT_URL}", api_key: test, is_chat_model: true}
"""


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def chains(
    write: Write,
    fault_server: FaultServer,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv("FAULT_URL", fault_server.base_url)
    monkeypatch.setenv("REDIS_PORT", str(redis_server.port))
    return write("chains.yaml", FILE)


def test_models_from_one_file_share_its_redis_health(
    chains: Path, fault_server: FaultServer
) -> None:
    """Two processes loading the same file share each deployment's circuit through its Redis:
    what one learns, the other skips; LlamaIndex LLMs built from it use the same Health."""
    from langchain_fallback import from_config as langchain_model
    from llamaindex_fallback import from_config as llamaindex_llm

    config, elsewhere = ChainConfig(chains), ChainConfig(chains)
    health = config.health
    assert health is not None
    assert isinstance(health.store, RedisStore)
    assert (health.breaker, health.store.prefix) == (
        Breaker(failure_threshold=2, cooldown=60),
        "config-test",
    )
    fault_server.set_fault("primary", Fault.server_error(503))
    model = langchain_model(config, "fast")
    for _ in range(2):
        assert model.invoke("hello").response_metadata["model_name"] == "backup"
    assert fault_server.attempt_count("primary") == 2
    other = langchain_model(elsewhere, "fast")
    assert other.invoke("hello").response_metadata["model_name"] == "backup"
    assert fault_server.attempt_count("primary") == 2, "the other process skipped it"
    assert llamaindex_llm(elsewhere, "li").fallback_chain.health is elsewhere.health
    states = [c.state for c in health.health().values()]
    assert states.count(CircuitState.OPEN) == 1
    for made in (config, elsewhere):
        made.health.store.close()  # type: ignore[union-attr]


def test_health_without_redis_is_kept_in_process_and_outlives_reloads(write: Write) -> None:
    """Without ``redis`` the circuits live in the process; a reload keeps the same Health."""
    path = write("c.yaml", "health: {cooldown: 5}\naliases: {a: [openai/x]}\n")
    config = ChainConfig(path)
    health = config.health
    assert health is not None
    assert isinstance(health.store, LocalStore)
    assert health.breaker.cooldown == 5
    path.write_text("health: {cooldown: 5}\naliases: {a: [openai/y]}\n", encoding="utf-8")
    assert config.reload() is None
    assert config.health is health
    assert ChainConfig({"aliases": {"a": ["openai/x"]}}).health is None


@pytest.mark.parametrize(
    ("section", "field", "expected"),
    [
        ({"cooldwn": 3}, "health.cooldwn", "cooldown"),
        ({"redis": "localhost:6379"}, "health.redis", "rediss://"),
        ({"prefix": "{x}"}, "health.prefix", "pattern"),
        ({"failure_rate": 2}, "health.failure_rate", "less than or equal to 1"),
        ({"timeout": 0}, "health.timeout", "greater than 0"),
    ],
)
def test_bad_health_settings_are_named(
    section: dict[str, object], field: str, expected: str
) -> None:
    """A health setting that cannot work is refused at load, at its own path."""
    with pytest.raises(ConfigurationError) as caught:
        ChainConfig({"health": section, "aliases": {"a": ["openai/x"]}})
    assert caught.value.field == field
    assert expected in f"{caught.value.problem} {caught.value.expected}"


def test_unset_variable_in_the_redis_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``${NAME}`` in the URL that the environment lacks is an error naming health.redis."""
    monkeypatch.delenv("NO_SUCH_REDIS_PASSWORD", raising=False)
    config = ChainConfig(
        {
            "health": {"redis": "rediss://:${NO_SUCH_REDIS_PASSWORD}@cache:6380/0"},
            "aliases": {"a": ["openai/x"]},
        }
    )
    with pytest.raises(ConfigurationError) as caught:
        _ = config.health
    assert caught.value.field == "health.redis"
    assert "NO_SUCH_REDIS_PASSWORD" in caught.value.problem
