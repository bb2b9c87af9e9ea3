"""Named chains from configuration: aliases, a default chain, a shared policy.

Needs the ``config`` extra (pydantic, PyYAML; tomli before Python 3.11); it
is not imported by ``fallback_core`` itself.

    policy:                      # every alias; an alias's own fields win
      deadline: 60
      rules: {content_policy: fallback}
    default:                     # tried after each alias's own entries
      - openai/gpt-4o-mini
    aliases:
      fast:
        description: quick answers
        policy: {deadline: 20}
        chain:
          - model: openai/gpt-4o-mini
            first_token_timeout: 5
            options: {temperature: 0, api_key: "${OPENAI_KEY_FAST}"}
          - anthropic/claude-3-5-haiku-latest
          - alias: local         # another alias's entries, in place
      local: [openai_like/qwen2.5]
      spread:
        chain:
          - tier:                # one place, equivalent deployments, by weight
              - {model: openai/gpt-4o-mini, weight: 3, options: {base_url: "${EAST}"}}
              - {model: openai/gpt-4o-mini, weight: 1, options: {base_url: "${WEST}"}}
          - anthropic/claude-3-5-haiku-latest

An entry is ``provider/model``, or a mapping with ``model``, the hop's
settings (``name``, ``timeout``, ``first_token_timeout``, ``idle_timeout``,
``max_attempts``, ``context_window``, ``continuation``, ``require_finish``,
``weight``) and ``options`` for the provider's constructor; or a ``tier``: a
list of entries sharing one place (a `fallback_core.Tier`), optionally with
a ``name``. ``use_default: false`` keeps the default chain away from an alias.

Loading validates everything the file says: an unknown field, provider or
alias reference is a `ConfigurationError` naming its path and the closest
valid names. Building a chain (`ChainConfig.plan`, used by the adapters'
``from_config``) for an alias the file does not have is one too. Each entry is
resolved through the adapter; an entry that cannot be built *here* - its
integration package is missing, its API key or a ``${NAME}`` variable is
unset, the provider refuses its options - is skipped: the config's listeners
get an `EntrySkipped` and a warning is logged. Only when nothing is left does
the build fail, with `NoUsableModelError` listing every skip and its reason.
"""

from __future__ import annotations

from .._packages import needs_extra as _needs_extra

with _needs_extra("fallback_core.config", "pydantic and PyYAML", "config"):
    import pydantic as _pydantic  # noqa: F401 - the configuration schema

from ._errors import AliasResolved, EntrySkipped, NoUsableModelError, Unresolvable
from ._plan import API_KEY_VARIABLES, Plan, PlannedHop, PlannedTier, require_api_key
from ._registry import ChainConfig
from ._schema import (
    AliasRef,
    AliasSpec,
    ModelEntry,
    PolicySpec,
    RuleSpec,
    Settings,
    TierSpec,
)
from ._signals import install_sighup_reload

__all__ = [
    "API_KEY_VARIABLES",
    "AliasRef",
    "AliasResolved",
    "AliasSpec",
    "ChainConfig",
    "EntrySkipped",
    "ModelEntry",
    "NoUsableModelError",
    "Plan",
    "PlannedHop",
    "PlannedTier",
    "PolicySpec",
    "RuleSpec",
    "Settings",
    "TierSpec",
    "Unresolvable",
    "install_sighup_reload",
    "require_api_key",
]
