"""The core's `drive` fixture (every test through the sync and the async driver) and its guards."""

from __future__ import annotations

from tests.core.conftest import drive, no_leftover_threads

__all__ = ["drive", "no_leftover_threads"]
