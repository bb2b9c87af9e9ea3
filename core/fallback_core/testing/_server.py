"""`FaultServer`: a local OpenAI-compatible server that misbehaves on cue.

The server runs an asyncio loop on its own thread, so sync and async tests use
it alike; `stop()` closes every connection and joins that thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from types import TracebackType

import h11

from fallback_core.testing._answers import CANONICAL_ANSWER, ModelScript
from fallback_core.testing._anthropic import AnthropicWire
from fallback_core.testing._backups import OBEY, Backup
from fallback_core.testing._chat import ChatBackend, answer_chat
from fallback_core.testing._faults import Fault, FaultBook
from fallback_core.testing._http import HttpConnection, Request
from fallback_core.testing._log import Attempt, AttemptLog, AttemptRecord, request_line
from fallback_core.testing._openai import error_body
from fallback_core.testing._upstream import Upstream

_THREAD_TIMEOUT = 10.0
_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_MESSAGES_PATH = "/v1/messages"
_MODELS_PATHS = frozenset({"/v1/models", "/models"})
_requests = logging.getLogger("fallback_core.testing")


class FaultServer:
    """An OpenAI chat-completions and Anthropic Messages server on 127.0.0.1 whose models fail.

    OpenAI clients take `base_url`, Anthropic ones `anthropic_base_url`.

    `models` maps model names to their scripts; any other model name is served
    too, answering `answer` - by default `CANONICAL_ANSWER`, so every model of
    one server gives the same answer, a continuation on another model can be
    exact, and a test can compare what it got with `==` (each response still
    names the model that served it). Each model answers like one that reads
    its request only as far as `ModelScript` says: its canonical answer; for a
    continuation, what its `Backup` behaviour makes of the request (by default
    the exact rest of the answer); tool calls, scripted or built from the
    offered tool's schema; JSON for a JSON `response_format`. `faults` sets
    initial faults per model (see `set_fault`); a fault changes how that reply
    is delivered, never what it is. `backups` sets initial backup behaviours
    per model (see `set_backup`). `token_delay` is the pause after each
    streamed token (a whole reply waits for all of its tokens' pauses). Use it
    as a context manager, or call `start()` and `stop()`.

    Proxy mode: with `upstream` (an OpenAI base URL, e.g. a local llama.cpp
    server's `http://127.0.0.1:8080/v1`) every chat request that its fault lets
    through is forwarded there and the upstream's answer relayed back - a
    stream event by event as it comes - with the fault applied on the way,
    exactly as to a scripted answer: a 429 or a reset strikes before anything
    is forwarded, `cut_after=5` closes the connection after the fifth relayed
    content chunk. `upstream_models` maps this server's model names to the
    upstream's (others are forwarded unchanged); answers carry the name the
    client asked for. Scripts then only matter for `context_window`, and in
    the attempts log `continuation` marks prefills only (an "instruct"
    continuation cannot be told from a next turn without a canonical answer).

    Every request answered is logged as one INFO line on the
    `fallback_core.testing` logger (the command line prints them).
    `GET /v1/models` lists every model the server was told about: scripted,
    given a fault, or mapped to an upstream name.
    """

    def __init__(
        self,
        models: Mapping[str, ModelScript] | None = None,
        *,
        answer: str = CANONICAL_ANSWER,
        faults: Mapping[str, Fault] | None = None,
        backups: Mapping[str, Backup] | None = None,
        token_delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream: str | None = None,
        upstream_models: Mapping[str, str] | None = None,
    ) -> None:
        self._scripts = dict(models or {})
        self._named = dict.fromkeys(
            [*self._scripts, *(faults or {}), *(backups or {}), *(upstream_models or {})]
        )
        self._default_script = ModelScript(answer=answer)
        self._backups: dict[str, Backup] = {}
        for model, backup in (backups or {}).items():
            self.set_backup(model, backup)
        self._faults = FaultBook()
        for model, fault in (faults or {}).items():
            self._faults.set(model, fault)
        self._log = AttemptLog()
        self._upstream = Upstream(upstream, upstream_models) if upstream is not None else None
        if upstream_models and self._upstream is None:
            raise ValueError("upstream_models needs an upstream")
        self._backend = ChatBackend(
            self.script_for, self._faults, self._log, token_delay, self._upstream, self.backup_for
        )
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], HttpConnection] = {}

    # Lifecycle

    def start(self) -> FaultServer:
        """Bind the port and start serving on a background thread; return self."""
        if self._thread is not None:
            raise RuntimeError("the fault server is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_loop, args=(loop,), name="fallback-fault-server", daemon=True
        )
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            opening = asyncio.run_coroutine_threadsafe(self._open(), loop)
            self._port = opening.result(_THREAD_TIMEOUT)
        except BaseException:
            self._halt_loop()
            raise
        self._faults.restart_clocks()
        return self

    def stop(self) -> None:
        """Close every connection, stop the loop and join its thread; safe to call twice."""
        loop = self._loop
        if loop is None:
            return
        closing = asyncio.run_coroutine_threadsafe(self._close(), loop)
        try:
            closing.result(_THREAD_TIMEOUT)
        finally:
            self._halt_loop()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # What tests read and steer

    @property
    def port(self) -> int:
        """The TCP port the server listens on (only while running)."""
        if self._port is None:
            raise RuntimeError("the fault server is not running; call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to hand to a client, e.g. `http://127.0.0.1:8123/v1`."""
        return f"http://{self._host}:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic base URL (`POST /v1/messages` under it), e.g. `http://127.0.0.1:8123`."""
        return f"http://{self._host}:{self.port}"

    @property
    def upstream(self) -> str | None:
        """The upstream base URL in proxy mode, else None."""
        return self._upstream.base_url if self._upstream is not None else None

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now (kept-alive ones included)."""
        return len(self._connections)

    def set_fault(self, model: str, fault: Fault | None) -> None:
        """Make `model` misbehave with `fault` from its next attempt on; None heals it.

        A new fault replaces the model's previous one and starts its counters
        (and a flapping fault's clock) afresh.
        """
        self._named.setdefault(model)
        self._faults.set(model, fault)

    def set_backup(self, model: str, backup: Backup | None) -> None:
        """Make `model` answer continuation requests as `backup` says; None: obey again.

        A request's `X-Backup` header overrides it for that request.
        """
        if backup is not None and not isinstance(backup, Backup):
            raise TypeError(f"a backup behaviour is a Backup, got {type(backup).__name__}")
        if backup is None:
            self._backups.pop(model, None)
        else:
            self._backups[model] = backup

    def backup_for(self, model: str) -> Backup:
        """The behaviour `model` answers continuation requests with."""
        return self._backups.get(model, OBEY)

    def attempts(self, model: str | None = None) -> list[AttemptRecord]:
        """The chat-completions attempts at `model` (every model when None), oldest first."""
        return self._log.records(model)

    def attempt_count(self, model: str | None = None) -> int:
        """How many chat-completions attempts `model` (every model when None) received."""
        return len(self._log.records(model))

    def reset(self) -> None:
        """Forget the attempts log, every fault with its counters, and every backup behaviour."""
        self._log.clear()
        self._faults.clear()
        self._backups.clear()

    def script_for(self, model: str) -> ModelScript:
        """The script `model` answers with (the server's `answer` for models not configured)."""
        return self._scripts.get(model, self._default_script)

    def answer_for(self, model: str) -> str:
        """The canonical answer text of `model`."""
        return self.script_for(model).answer

    # The server thread

    async def _open(self) -> int:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._requested_port, backlog=2048
        )
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task, conn in list(self._connections.items()):
            conn.reset()
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _halt_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
        self._loop = self._thread = self._server = self._port = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = HttpConnection(reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = conn
        try:
            while (request := await conn.next_request()) is not None:
                started = time.monotonic()
                attempt = await self._route(conn, request)
                if _requests.isEnabledFor(logging.INFO):
                    record = attempt.snapshot() if attempt is not None else None
                    seconds = time.monotonic() - started
                    line = request_line(request.method, request.path, conn.status, record, seconds)
                    _requests.info(line)
                if not conn.can_continue():
                    break
        except (h11.ProtocolError, OSError):
            pass  # a broken or garbled connection ends just this connection
        except asyncio.CancelledError:
            # Only stop() cancels a connection. Ending quietly keeps Python 3.11's
            # start_server from logging every cancelled handler as an error.
            pass
        finally:
            del self._connections[task]
            if not conn.closed:
                await _quietly_close(conn)

    async def _route(self, conn: HttpConnection, request: Request) -> Attempt | None:
        if request.path in _CHAT_PATHS and request.method == "POST":
            return await answer_chat(conn, request, self._backend)
        if request.path == _MESSAGES_PATH and request.method == "POST":
            wire = AnthropicWire()
            if self._upstream is not None:
                message = "proxy mode relays the OpenAI chat-completions API only"
                body = wire.error("invalid_request_error", message)
                await conn.respond(400, body, wire.headers())
                return None
            return await answer_chat(conn, request, self._backend, wire)
        if request.path in _MODELS_PATHS and request.method == "GET":
            models = [
                {"id": name, "object": "model", "created": 0, "owned_by": "fault-server"}
                for name in self._named
            ]
            await conn.respond(200, json.dumps({"object": "list", "data": models}).encode())
        else:
            message = f"Unknown request URL: {request.method} {request.path}."
            await conn.respond(404, error_body(message, type="invalid_request_error", code=None))
        return None


async def _quietly_close(conn: HttpConnection) -> None:
    with contextlib.suppress(OSError):
        await conn.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
