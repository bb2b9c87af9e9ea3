"""Real ``ChatOpenAI`` and ``ChatAnthropic`` hops pointed at a local fault server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from langchain_anthropic import ChatAnthropic
from langchain_openai import ChatOpenAI

from fallback_core.testing import FaultServer


class OpenAIHops:
    """Builds ``ChatOpenAI`` models for a fault server's model names.

    They share one sync and one async HTTP client, made without loading a CA
    bundle (the server speaks plain HTTP). The async client keeps no idle
    connections, so models can be called from one event loop after another.
    """

    def __init__(self, server: FaultServer) -> None:
        self.server = server
        self.client = httpx.Client(verify=False, timeout=10)
        limits = httpx.Limits(max_keepalive_connections=0)
        self.async_client = httpx.AsyncClient(verify=False, timeout=10, limits=limits)

    def __call__(self, name: str, **options: Any) -> ChatOpenAI:
        settings: dict[str, Any] = {
            "model": name,
            "base_url": self.server.base_url,
            "api_key": "test",
            "max_retries": 0,
            "stream_usage": True,
            "http_client": self.client,
            "http_async_client": self.async_client,
        }
        settings.update(options)
        return ChatOpenAI(**settings)

    def close(self) -> None:
        self.client.close()
        asyncio.run(self.async_client.aclose())


class AnthropicHops:
    """Builds ``ChatAnthropic`` models for a fault server's model names (its Messages API)."""

    def __init__(self, server: FaultServer) -> None:
        self.server = server

    def __call__(self, name: str, **options: Any) -> ChatAnthropic:
        settings: dict[str, Any] = {
            "model": name,
            "anthropic_api_url": self.server.anthropic_base_url,
            "api_key": "test",
            "max_retries": 0,
            "default_request_timeout": 10,
        }
        settings.update(options)
        return ChatAnthropic(**settings)
