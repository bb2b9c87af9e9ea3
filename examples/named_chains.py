"""Named chains from a YAML file: an alias's own backups, then the default chain.

Runs offline, against the local fault server (no API key, no network):

    LANGSMITH_TRACING=false .venv/bin/python examples/named_chains.py

``chains.yaml`` names the chain ``answers``. Its Anthropic entry needs a key
this demo never sets, so it is skipped (the listener prints why) and the
default chain's model follows the primary; once the chain is planned the
listener hears how the alias resolved. The primary dies mid-answer; the
backup finishes it. A long-running service would also call
``install_sighup_reload(config)`` so that ``kill -HUP`` re-reads the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from langchain_core.prompts import ChatPromptTemplate

from fallback_core.config import AliasResolved, ChainConfig, EntrySkipped
from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import from_config

ANSWER = (
    "A named chain lives in configuration: operations can reorder its models, "
    "add a backup or retire a provider without touching the code that calls it."
)


def show(event: EntrySkipped | AliasResolved) -> None:
    """A config listener: each entry left out, then how the alias resolved."""
    if isinstance(event, EntrySkipped):
        print(f"  [skipped {event.where} {event.entry}: {event.reason}]")
    else:
        print(f"  [alias {event.alias!r}: {event.used} models, {event.skipped} skipped]")


def main() -> None:
    scripts = {"primary": ModelScript(ANSWER), "backup": ModelScript(ANSWER)}
    with FaultServer(scripts, token_delay=0.02) as server:
        server.set_fault("primary", Fault.cut_after(10))  # the connection drops mid-answer
        os.environ["CHAT_BASE_URL"] = server.base_url
        os.environ["CHAT_API_KEY"] = "demo"
        os.environ.pop("ANSWERS_ANTHROPIC_KEY", None)

        config = ChainConfig(Path(__file__).with_name("chains.yaml"), listeners=[show])
        llm = from_config(config, "answers")
        print("chain:", [hop.name for hop in llm.fallback_chain.hops])

        chain = ChatPromptTemplate.from_messages([("human", "{question}")]) | llm
        text, served = "", None
        for chunk in chain.stream({"question": "Why name a chain?"}):
            text += chunk.text
            print(chunk.text, end="", flush=True)
            if chunk.response_metadata.get("fallback"):
                served = chunk.response_metadata["model_name"]
        print()
        print("served by:", served)
        print("complete, nothing lost or repeated:", text == ANSWER)


if __name__ == "__main__":
    main()
