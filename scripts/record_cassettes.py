"""Record the cassettes under cassettes/ from real HTTP traffic; rerun it whenever they go stale.

    .venv/bin/python scripts/record_cassettes.py            # every cassette
    .venv/bin/python scripts/record_cassettes.py happy_path  # only the scenarios named

For each scenario of ``tests/cassettes/scenarios.py`` and each adapter, a
fresh `FaultServer` on 127.0.0.1 is given the primary's fault, the adapter -
``FallbackChatModel`` over ``ChatOpenAI`` hops, or ``FallbackLLM`` over
``OpenAILike`` hops, or ``FallbackChatModel`` over ``ChatAnthropic`` hops
speaking the Messages API - is called once through its sync streaming method under
vcrpy (record mode "all", the project's rules in ``tests/cassettes/recording.py``),
and ``cassettes/<adapter>/<scenario>.yaml`` is replaced only when the call did
what the scenario says: the same answer, the same attempts in the same order,
one recorded request per attempt, and no key-shaped string in the file. The
replay tests (``tests/cassettes/test_replay.py``) then play every cassette back
offline through both the sync and the async methods. No network beyond
127.0.0.1 is used and no API key is needed.

What a cassette can hold of a broken stream. vcrpy reads a whole response
body before handing it to the client. When the connection closes mid-body -
the fault server's ``cut_after``: some token events, then a FIN with no
finish chunk, no ``data: [DONE]`` and no terminating chunk - httpx raises
``RemoteProtocolError: peer closed connection without sending complete message
body (incomplete chunked read)`` inside vcrpy's stub, so vcrpy records nothing
for that request and the client sees a connection error before any token.
So this script reads responses through `WireTap`, which ends a body where
the connection broke instead of raising: the cassette then holds exactly the
bytes that came over the wire - the token events, without the finish chunk
and ``[DONE]`` - and on replay they arrive as a stream that ends cleanly
without a finish reason, which the chain treats as truncated and continues on
the backup, just as it continued the cut stream while recording. The broken
connection itself is not in the cassette; the fault-server tests cover it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the shared scenarios and vcrpy rules live under tests/
os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

import httpcore  # noqa: E402
import httpx  # noqa: E402
import vcr  # noqa: E402

from fallback_core.testing import FaultServer  # noqa: E402
from tests.cassettes.keyscan import find_secrets  # noqa: E402
from tests.cassettes.recording import CASSETTES, vcr_config  # noqa: E402
from tests.cassettes.scenarios import (  # noqa: E402
    ANSWER,
    ANTHROPIC_SCENARIOS,
    LANGCHAIN_SCENARIOS,
    LLAMAINDEX_SCENARIOS,
    MODELS,
    Adapter,
    Clients,
    Scenario,
    ask,
    attempts_of,
    build,
    primary_model,
)

# How each adapter is called while recording: its sync streaming method.
RECORDED_KIND: dict[Adapter, str] = {
    "langchain": "stream",
    "llamaindex": "stream_chat",
    "langchain-anthropic": "stream",
    "llamaindex-anthropic": "stream_chat",
}
_BROKEN_BODY = (httpcore.RemoteProtocolError, httpcore.ReadError)


class RecordingError(Exception):
    """A recording did not show what its scenario says; the old cassette is kept."""


class WireTap(httpx.HTTPTransport):
    """An HTTP transport whose response bodies end where their connection broke.

    Every other response passes unchanged. `breaks` lists the URL of each
    body that was cut short. It wraps the transport's connection pool (an
    httpx internal, ``_pool``), which sits below the method vcrpy patches.
    """

    def __init__(self) -> None:
        super().__init__()
        self.breaks: list[str] = []
        self._pool: Any = _PoolEndingBrokenBodies(self._pool, self.breaks)


class _PoolEndingBrokenBodies:
    def __init__(self, pool: httpcore.ConnectionPool, breaks: list[str]) -> None:
        self._pool = pool
        self._breaks = breaks

    def handle_request(self, request: httpcore.Request) -> httpcore.Response:
        response = self._pool.handle_request(request)
        response.stream = _BodyUntilBreak(response.stream, str(request.url), self._breaks)
        return response

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> _PoolEndingBrokenBodies:
        self._pool.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pool.__exit__(exc_type, exc, traceback)


class _BodyUntilBreak:
    def __init__(self, stream: Any, url: str, breaks: list[str]) -> None:
        self._stream = stream
        self._url = url
        self._breaks = breaks

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except _BROKEN_BODY:
            self._breaks.append(self._url)

    def close(self) -> None:
        if hasattr(self._stream, "close"):
            self._stream.close()


def record(adapter: Adapter, scenario: Scenario, recorder: vcr.VCR) -> tuple[Path, int]:
    """Record one scenario's cassette; return its path and how many requests it holds."""
    target = CASSETTES / f"{scenario.cassette(adapter)}.yaml"
    tap = WireTap()
    clients = Clients(httpx.Client(transport=tap, timeout=10), httpx.AsyncClient(timeout=10))
    with FaultServer(MODELS) as server, tempfile.TemporaryDirectory() as scratch:
        server.set_fault(primary_model(adapter), scenario.fault)
        draft = Path(scratch) / target.name
        try:
            with recorder.use_cassette(str(draft)) as cassette:
                model = build(adapter, scenario, server.base_url, clients)
                outcome = ask(adapter, model, RECORDED_KIND[adapter])
            recorded = len(cassette)
        finally:
            clients.close()
        problems = _problems(scenario, outcome.text, attempts_of(outcome.trace))
        if recorded != server.attempt_count() or recorded != len(scenario.attempts):
            problems.append(
                f"{recorded} requests recorded, {server.attempt_count()} reached the server,"
                f" {len(scenario.attempts)} expected"
            )
        cut = scenario.fault is not None and scenario.fault.name == "cut_after"
        if len(tap.breaks) != int(cut):
            problems.append(f"{len(tap.breaks)} broken bodies, {int(cut)} expected: {tap.breaks}")
        problems.extend(str(finding) for finding in find_secrets(draft.read_text("utf-8"), draft))
        if problems:
            raise RecordingError(f"{scenario.cassette(adapter)}: " + "; ".join(problems))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(draft, target)
    return target, recorded


def _problems(scenario: Scenario, text: str, attempts: Sequence[Any]) -> list[str]:
    problems = []
    if text != ANSWER:
        problems.append(f"answer {text!r}, expected {ANSWER!r}")
    if tuple(attempts) != scenario.attempts:
        problems.append(f"attempts {attempts}, expected {scenario.attempts}")
    return problems


def _claude_works() -> bool:
    """LlamaIndex's Anthropic needs anthropic<1: record its cassettes with that SDK first on
    the path (``PYTHONPATH=.venv/anthropic-0``), skip them otherwise."""
    import anthropic

    works = int(anthropic.__version__.split(".")[0]) < 1
    if not works:
        print("llamaindex-anthropic skipped: needs PYTHONPATH=.venv/anthropic-0", file=sys.stderr)
    return works


def main(argv: Sequence[str] | None = None) -> int:
    """Record the scenarios named (every one when none is); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument(
        "--adapter", help="only this adapter's cassettes (e.g. langchain-anthropic)"
    )
    args = parser.parse_args(argv)
    plan: list[tuple[Adapter, Scenario]] = [
        *(("langchain", s) for s in LANGCHAIN_SCENARIOS),
        *(("llamaindex", s) for s in LLAMAINDEX_SCENARIOS),
        *(("langchain-anthropic", s) for s in ANTHROPIC_SCENARIOS),
        *(("llamaindex-anthropic", s) for s in ANTHROPIC_SCENARIOS if _claude_works()),
    ]
    known = {scenario.name for _, scenario in plan}
    unknown = set(args.scenarios) - known
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {sorted(known)}")
    recorder = vcr.VCR(**vcr_config(record_mode="all"))
    failed = 0
    for adapter, scenario in plan:
        if args.scenarios and scenario.name not in args.scenarios:
            continue
        if args.adapter and adapter != args.adapter:
            continue
        try:
            path, requests = record(adapter, scenario, recorder)
        except RecordingError as exc:
            failed += 1
            print(f"FAILED {exc}", file=sys.stderr)
            continue
        print(f"{path.relative_to(ROOT)}: {requests} requests - {scenario.summary}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
