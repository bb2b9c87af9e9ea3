"""Reloading a configuration on SIGHUP, as long-running services do."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from .._errors import ConfigurationError
from ._registry import ChainConfig

__all__ = ["install_sighup_reload"]


def install_sighup_reload(config: ChainConfig) -> Callable[[], None]:
    """Reload ``config`` whenever the process gets SIGHUP (``kill -HUP <pid>``).

    Returns a function that puts the previous SIGHUP handler back. Call it
    from the main thread (only there may Python install signal handlers); it
    raises `RuntimeError` elsewhere, and on platforms without SIGHUP
    (Windows). The handler itself only starts a thread that calls
    `ChainConfig.reload`, so reading the file and rebuilding the models that
    follow the configuration never run inside whatever the main thread was
    doing when the signal arrived (an import, a lock held by a reload).
    """
    sighup = getattr(signal, "SIGHUP", None)
    if sighup is None:
        raise RuntimeError("install_sighup_reload: this platform has no SIGHUP")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("install_sighup_reload must be called from the main thread")
    if config.path is None:
        raise ConfigurationError(
            "config", "it was given as a mapping, so there is no file to re-read", "a file path"
        )

    def on_sighup(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=config.reload, name="fallback-config-reload", daemon=True).start()

    previous = signal.signal(sighup, on_sighup)

    def uninstall() -> None:
        signal.signal(sighup, previous)

    return uninstall
