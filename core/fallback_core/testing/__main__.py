"""Command line: `python -m fallback_core.testing serve` runs a fault server until Ctrl-C.

    python -m fallback_core.testing serve --port 8123 \\
        --model primary="The quick brown fox jumps over the lazy dog." \\
        --fault primary=cut_after:5 --fault backup=rate_limit:times=1 \\
        --backup backup=restart

It prints the base URL on the first line of output. Fault specs use the text
form of `parse_fault`. Proxy mode puts the faults in front of a real
OpenAI-compatible server (here a local llama.cpp one):

    python -m fallback_core.testing serve --upstream http://127.0.0.1:8080/v1 \\
        --upstream-model primary=gemma --upstream-model backup=gemma \\
        --fault primary=cut_after:12
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Sequence

from fallback_core.testing._answers import ModelScript
from fallback_core.testing._backups import Backup, parse_backup
from fallback_core.testing._faults import Fault, parse_fault
from fallback_core.testing._server import FaultServer


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        models = {name: ModelScript(answer) for name, answer in map(_pair, args.model)}
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
    with server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fallback_core.testing",
        description="A local OpenAI-compatible server whose models fail on cue.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve until Ctrl-C, printing the base URL")
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
