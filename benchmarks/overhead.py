"""What our adapters cost on the healthy path, against the bare model in the same framework.

Pairs: bare ``ChatOpenAI`` vs ``FallbackChatModel(ChatOpenAI, ChatOpenAI)``, and
bare ``OpenAILike`` vs ``FallbackLLM(OpenAILike, OpenAILike)``, configured as in
the scenario matrix (stall limits, deadline, breaker). Requests alternate
A/B, B/A, ... so drift in the machine hits both sides alike. Each pair runs
streamed, async and sync, against a server pacing tokens as real models do
(the wall-time ratio a caller feels) and against one sending as fast as it
can (the worst case: nothing left to hide the client's own work). CPU time
is the client process's alone (the server runs in another process), per
token of the answer.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .scenarios import ANSWER, BACKUP, PRIMARY, QUESTION
from .server import RemoteFaultServer
from .systems import (
    BACKUP_WINDOW,
    Client,
    HttpClients,
    LangChainClient,
    LlamaIndexClient,
    chat_openai,
    fallback_chat_model,
    fallback_llm,
    openai_like,
)

__all__ = ["OverheadResult", "as_dict", "measure_overhead"]

TOKENS = len(ANSWER.split())  # the fault server streams one word per chunk


@dataclass(frozen=True, slots=True)
class OverheadResult:
    """Our adapter (B) against the bare model (A): one framework, one mode, one pace."""

    framework: str
    mode: str
    token_delay: float
    requests: int
    bare_wall: float
    ours_wall: float
    ratio: float
    """Mean wall time of ours over the bare model's."""
    ratio_median: float
    ratio_p25: float
    ratio_p75: float
    """Median and quartiles of the per-pair ratios: the spread."""
    bare_cpu_per_token_us: float
    ours_cpu_per_token_us: float
    all_complete: bool


def _pairs(base_url: str, http: HttpClients) -> dict[str, tuple[Client, Client]]:
    lc_bare = chat_openai(base_url, PRIMARY, http)
    lc_ours = fallback_chat_model(
        chat_openai(base_url, PRIMARY, http), chat_openai(base_url, BACKUP, http)
    )
    li_bare = openai_like(base_url, PRIMARY, http)
    li_ours = fallback_llm(
        openai_like(base_url, PRIMARY, http),
        openai_like(base_url, BACKUP, http, context_window=BACKUP_WINDOW),
    )
    return {
        "LangChain": (LangChainClient(lc_bare, http), LangChainClient(lc_ours, http)),
        "LlamaIndex": (LlamaIndexClient(li_bare, http), LlamaIndexClient(li_ours, http)),
    }


@dataclass(slots=True)
class _Sample:
    wall: float
    cpu: float
    ok: bool


def _timed_sync(stream: Callable[[str], Iterator[str]]) -> _Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    text = "".join(stream(QUESTION))
    return _Sample(time.perf_counter() - wall, time.process_time() - cpu, text == ANSWER)


async def _timed_async(client: Client) -> _Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    text = "".join([piece async for piece in client.stream(QUESTION)])
    return _Sample(time.perf_counter() - wall, time.process_time() - cpu, text == ANSWER)


async def _sample(client: Client, mode: str) -> _Sample:
    if mode == "sync":
        return _timed_sync(client.stream_sync)
    return await _timed_async(client)


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


async def _compare(
    framework: str,
    mode: str,
    token_delay: float,
    bare: Client,
    ours: Client,
    requests: int,
    warmup: int,
) -> OverheadResult:
    for _ in range(warmup):
        await _sample(bare, mode)
        await _sample(ours, mode)
    a: list[_Sample] = []
    b: list[_Sample] = []
    for i in range(requests):
        if i % 2 == 0:
            a.append(await _sample(bare, mode))
            b.append(await _sample(ours, mode))
        else:
            b.append(await _sample(ours, mode))
            a.append(await _sample(bare, mode))
    ratios = [y.wall / x.wall for x, y in zip(a, b, strict=True)]
    p25, p75 = _quartiles(ratios)
    bare_wall = statistics.fmean(s.wall for s in a)
    ours_wall = statistics.fmean(s.wall for s in b)
    return OverheadResult(
        framework=framework,
        mode=mode,
        token_delay=token_delay,
        requests=requests,
        bare_wall=bare_wall,
        ours_wall=ours_wall,
        ratio=ours_wall / bare_wall,
        ratio_median=statistics.median(ratios),
        ratio_p25=p25,
        ratio_p75=p75,
        bare_cpu_per_token_us=1e6 * sum(s.cpu for s in a) / (requests * TOKENS),
        ours_cpu_per_token_us=1e6 * sum(s.cpu for s in b) / (requests * TOKENS),
        all_complete=all(s.ok for s in a + b),
    )


async def measure_overhead(
    server: RemoteFaultServer,
    token_delay: float,
    *,
    requests: int,
    warmup: int = 5,
    modes: Sequence[str] = ("async", "sync"),
    progress: bool = True,
) -> list[OverheadResult]:
    """Every framework's pair, in every mode, against `server` (pacing `token_delay`)."""
    server.reset()
    http = HttpClients()
    results = []
    try:
        for framework, (bare, ours) in _pairs(server.base_url, http).items():
            for mode in modes:
                result = await _compare(framework, mode, token_delay, bare, ours, requests, warmup)
                results.append(result)
                if progress:
                    _print(result)
    finally:
        await http.aclose()
    return results


def _print(r: OverheadResult) -> None:
    print(
        f"  {r.framework:<10} {r.mode:<5} {r.token_delay * 1000:3.0f} ms/token  "
        f"ratio {r.ratio:.3f} (pairs: median {r.ratio_median:.3f}, "
        f"p25-p75 {r.ratio_p25:.3f}-{r.ratio_p75:.3f})  "
        f"cpu/token {r.bare_cpu_per_token_us:.0f} -> {r.ours_cpu_per_token_us:.0f} us  "
        f"complete={r.all_complete}",
        flush=True,
    )


def as_dict(result: OverheadResult) -> dict[str, Any]:
    """A JSON-friendly form."""
    return dataclasses.asdict(result)
