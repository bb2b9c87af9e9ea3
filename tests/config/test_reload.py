"""Reloading a configuration file: the last good one stays when a new one is bad; SIGHUP reloads."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading

import pytest

from fallback_core import ConfigurationError
from fallback_core.config import ChainConfig, install_sighup_reload

from .conftest import Write

GOOD = "aliases:\n  fast: [openai/gpt-4o-mini]\n"
CHANGED = "aliases:\n  fast: [openai/gpt-4o, openai/gpt-4o-mini]\n  slow: [openai/o3]\n"


def models(config: ChainConfig, alias: str = "fast") -> list[str]:
    """The models ``alias``'s chain is built from, in order."""
    return [hop.target for hop in config.plan(alias, lambda entry: entry.model).hops]


class Owner:
    """Something built from the configuration that follows its reloads."""

    def __init__(self) -> None:
        self.refreshed = 0

    def refresh(self) -> None:
        self.refreshed += 1


def test_reload_picks_up_a_good_change(write: Write) -> None:
    """An edited file is in force after reload, and callbacks hear of it."""
    path = write("chains.yaml", GOOD)
    config = ChainConfig(path)
    owner = Owner()
    config.on_reload(owner, Owner.refresh)
    path.write_text(CHANGED)
    assert config.reload() is None
    assert models(config) == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert config.aliases == ("fast", "slow")
    assert (config.generation, config.last_error, owner.refreshed) == (2, None, 1)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ("aliases:\n  fast: [openai/gpt-4o\n", "chains.yaml"),
        (
            "aliases:\n  fast: [{model: openai/gpt-4o, timeout: -1}]\n",
            "aliases.fast.chain[0].timeout",
        ),
        ("aliases:\n  fast: [{alias: slow}]\n", "aliases.fast.chain[0].alias"),
    ],
)
def test_bad_reload_keeps_the_last_good_configuration(
    write: Write, caplog: pytest.LogCaptureFixture, bad: str, field: str
) -> None:
    """A file that fails to parse or validate is refused and reported; the last good one serves."""
    path = write("chains.yaml", GOOD)
    config = ChainConfig(path)
    owner = Owner()
    config.on_reload(owner, Owner.refresh)
    path.write_text(bad)
    with caplog.at_level(logging.WARNING, logger="fallback_core.config"):
        error = config.reload()
    assert isinstance(error, ConfigurationError)
    assert error.field.endswith(field)
    assert config.last_error is error
    assert models(config) == ["openai/gpt-4o-mini"]
    assert (config.generation, owner.refreshed) == (1, 0)
    assert "not reloaded, keeping the configuration in force" in caplog.text
    assert str(error) in caplog.text
    path.write_text(CHANGED)  # fixed: the next reload takes it and clears the error
    assert config.reload() is None
    assert (config.last_error, config.generation, owner.refreshed) == (None, 2, 1)


def test_deleted_file_keeps_the_last_good_configuration(write: Write) -> None:
    """A file that vanished is reported like a bad one."""
    path = write("chains.toml", 'aliases.fast = ["openai/gpt-4o-mini"]\n')
    config = ChainConfig(path)
    path.unlink()
    error = config.reload()
    assert error is not None
    assert "cannot be read" in error.problem
    assert models(config) == ["openai/gpt-4o-mini"]


def test_reload_of_an_unchanged_file_changes_nothing(write: Write) -> None:
    """Re-reading the same configuration neither counts a generation nor rebuilds anything."""
    config = ChainConfig(write("chains.yaml", GOOD))
    owner = Owner()
    config.on_reload(owner, Owner.refresh)
    assert config.reload() is None
    assert (config.generation, owner.refreshed) == (1, 0)


def test_reload_callbacks_follow_their_owners_only_while_they_live(write: Write) -> None:
    """A callback is dropped once its owner is gone; config keeps no owner alive."""
    path = write("chains.yaml", GOOD)
    config = ChainConfig(path)
    calls: list[str] = []
    kept, dropped = Owner(), Owner()
    config.on_reload(kept, lambda _: calls.append("kept"))
    config.on_reload(dropped, lambda _: calls.append("dropped"))
    del dropped
    gc.collect()
    path.write_text(CHANGED)
    config.reload()
    assert calls == ["kept"]
    config.on_reload(kept, lambda _: calls.append("again"))  # registering prunes the dead
    assert len(config._followers) == 2


def test_failing_reload_callback_is_logged_and_others_still_run(
    write: Write, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback that raises never breaks the reload."""
    path = write("chains.yaml", GOOD)
    config = ChainConfig(path)
    owner = Owner()

    def broken(_: Owner) -> None:
        raise RuntimeError("rebuild bug")

    config.on_reload(owner, broken)
    config.on_reload(owner, Owner.refresh)
    path.write_text(CHANGED)
    with caplog.at_level(logging.ERROR, logger="fallback_core.config"):
        assert config.reload() is None
    assert owner.refreshed == 1
    assert "reload callback" in caplog.text


def test_configuration_from_a_mapping_has_no_file_to_reload() -> None:
    """reload and the SIGHUP helper refuse a configuration that was given as a dict."""
    config = ChainConfig({"aliases": {"fast": ["openai/gpt-4o-mini"]}})
    with pytest.raises(ConfigurationError, match="no file to re-read"):
        config.reload()
    with pytest.raises(ConfigurationError, match="no file to re-read"):
        install_sighup_reload(config)
    assert repr(config) == "ChainConfig('mapping', aliases=['fast'])"


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="the platform has no SIGHUP")
def test_sighup_reloads_the_configuration(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -HUP on the own process reloads the file; uninstalling restores the old handler."""
    path = write("chains.yaml", GOOD)
    config = ChainConfig(path)
    done = threading.Event()
    reload = config.reload

    def reload_and_tell() -> ConfigurationError | None:
        try:
            return reload()
        finally:
            done.set()

    monkeypatch.setattr(config, "reload", reload_and_tell)
    before = signal.getsignal(signal.SIGHUP)
    uninstall = install_sighup_reload(config)
    try:
        path.write_text(CHANGED)
        os.kill(os.getpid(), signal.SIGHUP)
        assert done.wait(timeout=10)
    finally:
        uninstall()
    assert models(config) == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert signal.getsignal(signal.SIGHUP) == before


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="the platform has no SIGHUP")
def test_sighup_helper_must_be_installed_from_the_main_thread(write: Write) -> None:
    """Only the main thread may install signal handlers, so elsewhere the helper refuses."""
    config = ChainConfig(write("chains.yaml", GOOD))
    caught: list[BaseException] = []

    def install() -> None:
        try:
            install_sighup_reload(config)
        except RuntimeError as exc:
            caught.append(exc)

    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    assert len(caught) == 1
    assert "main thread" in str(caught[0])
