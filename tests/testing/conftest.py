"""Fixtures for the fault server's tests: scripted models and a sync/async `drive` fixture.

The `fault_server` fixture is the one the package ships in its pytest plugin.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from fallback_core.testing import FaultServer, ModelScript
from fallback_core.testing.pytest_plugin import fault_server  # noqa: F401  (the shipped fixture)

PRIMARY_ANSWER = "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun."
BACKUP_ANSWER = "Backup models take over when the primary fails and finish the same answer."
WEATHER_CALL = ("get_weather", {"city": "Paris", "unit": "celsius", "days": [1, 2, 3]})
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
JOKE_JSON = '{"setup": "Why did the model fail?", "punchline": "It had no backup."}'
HELLO = [{"role": "user", "content": "Please say something useful"}]

# A shell starts a background job with SIGINT ignored, and an ignored signal
# stays ignored in every child, where Python then installs no KeyboardInterrupt
# handler: the command-line tests' Ctrl-C would not stop their server. Handled
# here, the children start with the default disposition, as from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def asyncio_stays_quiet() -> Iterator[None]:
    """Fail a test during which an event loop (the server's included) logged a problem."""
    collector = _Collector()
    logger = logging.getLogger("asyncio")
    logger.addHandler(collector)
    yield
    logger.removeHandler(collector)
    assert [r.getMessage() for r in collector.records] == []


@pytest.fixture
def fault_server_models() -> Mapping[str, ModelScript]:
    """The scripted models every test here can call (other names get derived answers)."""
    return {
        "primary": ModelScript(PRIMARY_ANSWER),
        "backup": ModelScript(BACKUP_ANSWER),
        "repeater": ModelScript(PRIMARY_ANSWER, repeat_words=3),
        "gluer": ModelScript(PRIMARY_ANSWER, drop_seam_space=True),
        "botcher": ModelScript(PRIMARY_ANSWER, repeat_words=2, drop_seam_space=True),
        "tooler": ModelScript("It is sunny in Paris today.", tool_call=WEATHER_CALL),
        "caller": ModelScript(PRIMARY_ANSWER, tool_call="auto"),
        "jsoner": ModelScript(JOKE_JSON),
        "small": ModelScript("Short.", context_window=5),
    }


@dataclass
class Streamed:
    """What a client saw of one stream: the chunks it got and the error that ended it, if any."""

    chunks: list[ChatCompletionChunk] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def text(self) -> str:
        """The streamed content, joined."""
        return "".join(c.choices[0].delta.content or "" for c in self.chunks if c.choices)

    @property
    def finish_reason(self) -> str | None:
        """The last finish reason seen, or None if the stream never finished."""
        reasons = [c.choices[0].finish_reason for c in self.chunks if c.choices]
        return next((r for r in reversed(reasons) if r is not None), None)


class Driver:
    """Calls the server through the real openai client, sync or async, with one body of test.

    One client per test, so consecutive calls share its keep-alive connections.
    """

    def __init__(self, kind: str, base_url: str) -> None:
        self.kind = kind
        options: dict[str, Any] = {"base_url": base_url, "api_key": "test", "max_retries": 0}
        # openai's own httpx defaults, minus loading a CA bundle a plain-HTTP server never needs.
        self._client: openai.OpenAI | None = None
        self._aclient: openai.AsyncOpenAI | None = None
        if kind == "sync":
            self._client = openai.OpenAI(
                **options, http_client=openai.DefaultHttpxClient(verify=False)
            )
        else:
            self._aclient = openai.AsyncOpenAI(
                **options, http_client=openai.DefaultAsyncHttpxClient(verify=False)
            )

    async def create(self, *, timeout: float = 10.0, **kwargs: Any) -> ChatCompletion:  # noqa: ASYNC109 - the client's own timeout
        """A non-streaming chat completion (client errors propagate)."""
        kwargs.setdefault("messages", HELLO)
        if self._client is not None:
            return self._client.chat.completions.create(timeout=timeout, **kwargs)
        assert self._aclient is not None
        return await self._aclient.chat.completions.create(timeout=timeout, **kwargs)

    async def stream(self, *, timeout: float = 10.0, **kwargs: Any) -> Streamed:  # noqa: ASYNC109 - the client's own timeout
        """A streamed chat completion; errors while iterating end up in `Streamed.error`."""
        kwargs.setdefault("messages", HELLO)
        seen = Streamed()
        if self._client is not None:
            chunks = self._client.chat.completions.create(stream=True, timeout=timeout, **kwargs)
            with chunks:
                try:
                    for chunk in chunks:
                        seen.chunks.append(chunk)
                except Exception as exc:
                    seen.error = exc
            return seen
        assert self._aclient is not None
        achunks = await self._aclient.chat.completions.create(
            stream=True, timeout=timeout, **kwargs
        )
        async with achunks:
            try:
                async for chunk in achunks:
                    seen.chunks.append(chunk)
            except Exception as exc:
                seen.error = exc
        return seen

    async def aclose(self) -> None:
        """Close the client and its pooled connections."""
        if self._client is not None:
            self._client.close()
        if self._aclient is not None:
            await self._aclient.close()


@pytest.fixture(params=["sync", "async"])
async def drive(
    request: pytest.FixtureRequest,
    fault_server: FaultServer,  # noqa: F811
) -> AsyncIterator[Driver]:
    """The openai client, sync then async, pointed at the running `fault_server`."""
    driver = Driver(request.param, fault_server.base_url)
    yield driver
    await driver.aclose()
