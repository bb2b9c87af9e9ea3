"""The live cassettes: a real model's traffic, recorded through the proxying fault server.

``scripts/record_live_cassettes.py`` records each `LiveScenario` for both
adapters from Gemma 3 270M on llama.cpp, behind a `FaultServer` in proxy mode
whose "primary" and "backup" are both that model, with the primary's fault on
the way. A real model's answer is not known in advance, so each cassette
``cassettes/live/<adapter>/<name>.yaml`` has a sidecar ``<name>.json`` holding
the answer the chain gave while recording; the replay tests
(``tests/cassettes/test_live_replay.py``) play the cassette back offline and
expect exactly that answer, from the same hops after the same attempts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from langchain_openai import ChatOpenAI
from llama_index.llms.openai_like import OpenAILike

from fallback_core.testing import Fault
from langchain_fallback import ChatHop, FallbackChatModel
from llamaindex_fallback import FallbackLLM, LLMHop
from tests.cassettes.recording import CASSETTES
from tests.cassettes.scenarios import NO_WAIT, Adapter, Attempt, Clients

__all__ = ["CUT", "LIVE", "LIVE_SCENARIOS", "MAX_TOKENS", "LiveScenario", "Recorded", "build_live"]

LIVE = CASSETTES / "live"
MAX_TOKENS = 48
CUT = 8


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the chain gave while a live cassette was recorded (its sidecar file)."""

    text: str
    served_by: str
    attempts: tuple[Attempt, ...]
    primary_text: str  # what the primary sent over the wire before its fault struck

    def dump(self, path: Path) -> None:
        """Write the sidecar."""
        data = {
            "text": self.text,
            "served_by": self.served_by,
            "attempts": [list(attempt) for attempt in self.attempts],
            "primary_text": self.primary_text,
        }
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")

    @classmethod
    def load(cls, path: Path) -> Recorded:
        """Read a sidecar."""
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        attempts = tuple((hop, category, how) for hop, category, how in data["attempts"])
        return cls(data["text"], data["served_by"], attempts, data["primary_text"])


@dataclass(frozen=True, slots=True)
class LiveScenario:
    """One recorded call to the real model: the primary's fault and the attempts it causes."""

    name: str
    summary: str
    fault: Fault | None
    attempts: tuple[Attempt, ...]

    @property
    def served_by(self) -> str:
        """The hop whose answer the caller receives."""
        return self.attempts[-1][0]

    def cassette(self, adapter: Adapter) -> str:
        """The cassette's path under ``cassettes/``, without its ``.yaml`` suffix."""
        return f"live/{adapter}/{self.name}"

    def sidecar(self, adapter: Adapter) -> Path:
        """The file holding what the chain gave while this cassette was recorded."""
        return CASSETTES / f"{self.cassette(adapter)}.json"

    def recorded(self, adapter: Adapter) -> Recorded:
        """What the chain gave while this cassette was recorded."""
        return Recorded.load(self.sidecar(adapter))


LIVE_SCENARIOS = (
    LiveScenario(
        "happy_path",
        "the real model streams its answer through the proxy",
        None,
        (("primary", None, None),),
    ),
    LiveScenario(
        "truncated_stream_continued",
        f"the proxy cuts the real model's stream after {CUT} chunks; the backup continues it",
        Fault.cut_after(CUT),
        (("primary", "truncated", None), ("backup", None, "instruct")),
    ),
    LiveScenario(
        "rate_limit_then_backup",
        "429 with Retry-After: 0 from the proxy on every try: two retries, then the backup",
        Fault.rate_limit(retry_after=0),
        (*[("primary", "rate_limit", None)] * 3, ("backup", None, None)),
    ),
)


def build_live(adapter: Adapter, base_url: str, clients: Clients) -> Any:
    """The adapter's fallback model, "primary" then "backup", as the live cassettes call it."""
    if adapter == "langchain":
        hops = [
            ChatHop(
                ChatOpenAI(
                    model=name,
                    base_url=base_url,
                    api_key="test",  # type: ignore[arg-type]
                    temperature=0,
                    max_retries=0,
                    # sent as max_completion_tokens, which llama-cpp-python ignores:
                    extra_body={"max_tokens": MAX_TOKENS},
                    stream_usage=False,  # recorded without stream_options, as they were
                    http_client=clients.sync,
                    http_async_client=clients.async_,
                ),
                name=name,
            )
            for name in ("primary", "backup")
        ]
        return FallbackChatModel(models=hops, **NO_WAIT)
    llms = [
        LLMHop(
            OpenAILike(
                model=name,
                api_base=base_url,
                api_key="test",
                is_chat_model=True,
                context_window=2048,
                temperature=0,
                # The cap rides in the request body as recorded, out of the adapter's
                # sight: these cassettes predate continuations asking for what is left
                # of the cap (a lower max_tokens); `make live-cassettes` re-records them.
                additional_kwargs={"max_tokens": MAX_TOKENS},
                max_retries=0,
                timeout=120.0,
                http_client=clients.sync,
                async_http_client=clients.async_,
            ),
            stream_usage=False,  # recorded without stream_options, as they were
        )
        for name in ("primary", "backup")
    ]
    return FallbackLLM(llms, **NO_WAIT)  # type: ignore[arg-type]


def recording_clients() -> Clients:
    """Clients patient enough for a CPU-only model."""
    return Clients(httpx.Client(timeout=120), httpx.AsyncClient(timeout=120))
