"""LlamaIndex: a streaming FunctionAgent with two tools whose primary dies mid-answer.

Runs offline against the local fault server: the primary streams its final
answer and its connection drops halfway; the backup continues it. Both models
call the two tools in turn first.

    python examples/llamaindex_agent.py
"""

from __future__ import annotations

import asyncio

from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike

from fallback_core.testing import Fault, FaultServer, ModelScript
from llamaindex_fallback import FallbackLLM

ANSWER = "Six times seven is forty-two, and forty-two plus one is forty-three."


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def llm(server: FaultServer, model: str) -> OpenAILike:
    return OpenAILike(
        model=model,
        api_base=server.base_url,
        api_key="demo",
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=16_000,
        max_retries=0,
    )


async def run(server: FaultServer) -> str:
    fallback = FallbackLLM([llm(server, "primary"), llm(server, "backup")], idle_timeout=5)
    tools = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]
    agent = FunctionAgent(tools=tools, llm=fallback, streaming=True)
    handler = agent.run(user_msg="What is 6 times 7, plus 1?")
    streamed = ""
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            print(f"[{event.tool_name}({event.tool_kwargs}) = {event.tool_output.content}]")
        elif isinstance(event, AgentStream):
            streamed += event.delta
            print(event.delta, end="", flush=True)
    await handler
    print()
    return streamed


def main() -> None:
    calls = (("multiply", {"a": 6, "b": 7}), ("add", {"a": 42, "b": 1}))
    scripts = {name: ModelScript(ANSWER, tool_calls=calls) for name in ("primary", "backup")}
    with FaultServer(scripts, token_delay=0.02) as server:
        # two healthy tool-call turns, then the final answer is cut after six words
        server.set_fault(
            "primary",
            Fault.sequence(
                Fault.slow_first_token(0), Fault.slow_first_token(0), Fault.cut_after(6)
            ),
        )
        streamed = asyncio.run(run(server))
    print(f"complete, nothing lost or repeated: {streamed == ANSWER}")


if __name__ == "__main__":
    main()
