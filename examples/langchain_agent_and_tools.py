"""LangChain: tools, structured output and an agent through a chain whose primary is down.

Runs offline against the local fault server. The primary answers 503 to
everything; each call is served by the backup, which formats the tools its own
way because `bind_tools` binds them to every model of the chain.

    python examples/langchain_agent_and_tools.py
"""

from __future__ import annotations

import os

os.environ.setdefault("LANGSMITH_TRACING", "false")

from langchain.agents import create_agent
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from fallback_core.testing import Fault, FaultServer, ModelScript
from langchain_fallback import with_backups


class Weather(BaseModel):
    """The weather in a city."""

    city: str
    celsius: int


@tool
def get_weather(city: str) -> str:
    """Look up the current weather in a city."""
    return f"Sunny and 24C in {city}."


def main() -> None:
    scripts = {
        # Each model calls the tool it is asked for, with arguments read from the prompt.
        name: ModelScript("It is sunny and 24C in Paris.", tool_call="auto")
        for name in ("primary", "backup")
    }
    with FaultServer(scripts) as server:
        server.set_fault("primary", Fault.server_error(503))

        def chat(model: str) -> ChatOpenAI:
            return ChatOpenAI(model=model, base_url=server.base_url, api_key="demo")

        llm = with_backups(chat("primary"), chat("backup"), backoff=lambda n: 0.0)

        call = llm.bind_tools([get_weather]).invoke("What is the weather in 'Paris'?")
        print("tool call:        ", call.tool_calls[0]["name"], call.tool_calls[0]["args"])
        print("served by:        ", call.response_metadata["model_name"])

        weather = llm.with_structured_output(Weather).invoke("Weather in 'Paris', 24 degrees")
        print("structured output:", repr(weather))

        agent = create_agent(llm, tools=[get_weather])
        result = agent.invoke({"messages": [HumanMessage("What is the weather in 'Paris'?")]})
        print("agent answer:     ", result["messages"][-1].text)
        print("primary attempts: ", server.attempt_count("primary"), "(all 503)")


if __name__ == "__main__":
    main()
