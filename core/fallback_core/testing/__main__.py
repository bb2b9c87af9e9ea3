"""Command line: `python -m fallback_core.testing serve` runs a fault server until Ctrl-C.

    python -m fallback_core.testing serve --port 8123 \\
        --model primary="The quick brown fox jumps over the lazy dog." \\
        --fault primary=cut_after:5 --fault backup=rate_limit:times=1 \\
        --backup backup=restart

It prints the base URL on the first line of output, then one line per request
on stderr. The Anthropic Messages API is served too, at that URL without `/v1`
(what `anthropic.Anthropic(base_url=...)` takes). Fault specs use the text
form of `parse_fault` (`--help` lists them). `--tool-call primary=auto`
makes a model call the offered tool;
`--tool-call 'primary=get_weather:{"city": "Paris"}'` scripts its call.
Proxy mode puts the faults in front of a real OpenAI-compatible server (here
a local llama.cpp one):

    python -m fallback_core.testing serve --upstream http://127.0.0.1:8080/v1 \\
        --upstream-model primary=gemma --upstream-model backup=gemma \\
        --fault primary=cut_after:12
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import logging
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

from fallback_core.testing._answers import CANONICAL_ANSWER, ModelScript
from fallback_core.testing._backups import Backup, parse_backup
from fallback_core.testing._faults import FAULT_PARAMETERS, Fault, FaultName, parse_fault
from fallback_core.testing._server import FaultServer


def _fault_syntax() -> list[str]:
    """One line per fault of the text form: its name, its arguments in order, what it does."""
    names = [name for name in get_args(FaultName) if name != "sequence"]
    forms = {name: _form(name) for name in names}
    width = max(map(len, forms.values()))
    return [f"{forms[name]:<{width}}  {_summary(name)}" for name in names]


def _form(name: str) -> str:
    """`cut_after=n`, `stall_after=n[,seconds]`, `rate_limit[=retry_after,retry_after_ms]`."""
    signature = inspect.signature(getattr(Fault, name)).parameters
    required = [
        p for p in FAULT_PARAMETERS.get(name, ()) if signature[p].default is inspect.Parameter.empty
    ]
    optional = ",".join(p for p in FAULT_PARAMETERS.get(name, ()) if p not in required)
    if required:
        return f"{name}={','.join(required)}" + (f"[,{optional}]" if optional else "")
    return f"{name}[={optional}]" if optional else name


def _summary(name: str) -> str:
    doc = getattr(Fault, name).__doc__ or ""
    return doc.strip().splitlines()[0].replace("`", "")


_PROG = "python -m fallback_core.testing"
_FAULTS_HELP = "\n".join(
    [
        "faults (--fault MODEL=SPEC; SPEC is NAME or NAME=ARG,..., ':' may replace the first '='):",
        *(f"  {line}" for line in _fault_syntax()),
        "  every fault also takes times=N: strike on the next N attempts, then heal;",
        "  '+' joins steps into a sequence, e.g. rate_limit:times=1+cut_after:3",
    ]
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        models = _models(args.model, args.tool_call)
        faults: dict[str, Fault] = {
            name: parse_fault(spec) for name, spec in map(_pair, args.fault)
        }
        backups: dict[str, Backup] = {
            name: parse_backup(spec) for name, spec in map(_pair, args.backup)
        }
        upstream_models = dict(map(_pair, args.upstream_model))
        server = FaultServer(
            models,
            faults=faults,
            backups=backups,
            token_delay=args.token_delay,
            host=args.host,
            port=args.port,
            upstream=args.upstream,
            upstream_models=upstream_models,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        server.start()
    except OSError as exc:  # the port is taken, or the host is not this machine's
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(
            f"{_PROG}: error: cannot listen on {args.host}:{args.port}: {reason}", file=sys.stderr
        )
        return 1
    _log_requests_to_stderr()
    try:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    finally:
        server.stop()
    return 0


def _log_requests_to_stderr() -> None:
    """The server's one line per request, and only those (not other libraries' INFO logs)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    requests = logging.getLogger("fallback_core.testing")
    requests.addHandler(handler)
    requests.setLevel(logging.INFO)
    requests.propagate = False


def _models(answers: Sequence[str], tool_calls: Sequence[str]) -> dict[str, ModelScript]:
    """Each model's script: its answer (`--model`) and its tool calls (`--tool-call`), in order."""
    texts = dict(map(_pair, answers))
    calls: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    auto: set[str] = set()
    for name, spec in map(_pair, tool_calls):
        if spec == "auto":
            auto.add(name)
        else:
            calls.setdefault(name, []).append(_tool_call(spec))
    scripts: dict[str, ModelScript] = {}
    for name in dict.fromkeys([*texts, *calls, *auto]):
        if name in auto and name in calls:
            raise ValueError(f"model {name!r}: a tool call is scripted or 'auto', not both")
        tool_call: Literal["auto"] | None = "auto" if name in auto else None
        text = texts.get(name, CANONICAL_ANSWER)
        scripts[name] = ModelScript(
            text, tool_call=tool_call, tool_calls=tuple(calls.get(name, ()))
        )
    return scripts


def _tool_call(spec: str) -> tuple[str, Mapping[str, Any]]:
    tool, colon, arguments = spec.partition(":")
    try:
        parsed = json.loads(arguments) if colon else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"the arguments of tool call {spec!r} are not JSON: {exc}") from None
    if not tool or not isinstance(parsed, dict):
        raise ValueError(f"expected TOOL or TOOL:{{JSON object}} or auto, got {spec!r}")
    return tool, parsed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="A local OpenAI- and Anthropic-compatible server whose models fail on cue.",
        epilog=_FAULTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve until Ctrl-C, printing the base URL, then one line per request",
        epilog=_FAULTS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    serve.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=ANSWER",
        help="a model and its canonical answer (other names share the default answer)",
    )
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="MODEL=SPEC",
        help="a fault for a model, e.g. primary=cut_after:5 or backup=rate_limit:times=1",
    )
    serve.add_argument(
        "--tool-call",
        action="append",
        default=[],
        metavar="MODEL=TOOL[:JSON]|MODEL=auto",
        help="when tools are offered the model calls TOOL with JSON arguments (repeat for a"
        " sequence of calls, one per turn), or with auto the offered tool, arguments built"
        " from its schema",
    )
    serve.add_argument(
        "--backup",
        action="append",
        default=[],
        metavar="MODEL=BEHAVIOUR",
        help="how a model answers continuation requests, e.g. backup=restart or "
        "backup=overlap=sentence (obey, restart, preface, reword, overlap, strip, empty, vllm)",
    )
    serve.add_argument(
        "--upstream",
        metavar="URL",
        help="proxy mode: forward requests to this OpenAI base URL, faults applied on the way",
    )
    serve.add_argument(
        "--upstream-model",
        action="append",
        default=[],
        metavar="NAME=UPSTREAM_NAME",
        help="proxy mode: the upstream's name for a model (others are forwarded unchanged)",
    )
    serve.add_argument(
        "--token-delay", type=float, default=0.02, help="seconds between streamed tokens"
    )
    return parser


def _pair(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    return name, value


if __name__ == "__main__":
    sys.exit(main())
