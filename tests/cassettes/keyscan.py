"""Key-shaped secrets: find them in a cassette, or scrub them before one is written.

`find_secrets` reads text line by line and reports every string shaped like a
credential: provider keys by their prefixes (OpenAI ``sk-``, Anthropic
``sk-ant-``, AWS ``AKIA``/``ASIA``, Google ``AIza``), a ``Bearer`` token that
is not an obvious placeholder, and a long hex or base64 run held by a field
whose name says it is a credential (``authorization``, ``api_key``,
``x-api-key``, ``token``, ``secret``, ...) - whether the value sits on the same
line (``"api_key": "..."``, ``?key=...``) or on the YAML list lines under the
key, the way cassettes store header values. `scrub` replaces what
`find_secrets` would report with `REDACTED`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["REDACTED", "Finding", "find_secrets", "scan_tree", "scrub"]

REDACTED = "REDACTED"

# Bearer tokens that are obviously not credentials.
_PLACEHOLDERS = frozenset(
    {"redacted", "test", "dummy", "fake", "placeholder", "none", "null", "xxx", "token"}
)
_CREDENTIAL_NAME = (
    r"[\w-]*(?:authorization|api[_-]?key|apikey|secret|token|password|passwd|credential"
    r"|access[_-]?key|session[_-]?id|cookie)[\w-]*|key"
)
_LONG_TOKEN = r"(?:[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{32,}={0,2})"

# Each rule: a name and a pattern whose group "secret" is the credential itself.
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic-key", re.compile(r"(?P<secret>\bsk-ant-[A-Za-z0-9_-]{16,})")),
    ("openai-key", re.compile(r"(?P<secret>\bsk-(?!ant-)[A-Za-z0-9_-]{16,})")),
    ("aws-access-key", re.compile(r"(?P<secret>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)")),
    ("google-api-key", re.compile(r"(?P<secret>\bAIza[0-9A-Za-z_-]{35})")),
    ("bearer-token", re.compile(r"\bBearer\s+(?P<secret>[A-Za-z0-9._~+/=-]+)")),
    (
        "credential-field",
        re.compile(
            rf"(?i)(?:^|[\s\"'{{,&?;])(?:{_CREDENTIAL_NAME})[\"']?\s*[:=]\s*[\"']?"
            rf"(?:(?:Bearer|Basic|Token)\s+)?(?P<secret>{_LONG_TOKEN})"
        ),
    ),
)
_YAML_KEY = re.compile(r"^\s*(?:-\s+)?[\"']?(?P<name>[\w.-]+)[\"']?:\s*$")
_YAML_ITEM = re.compile(r"^\s*-\s+[\"']?(?:(?:Bearer|Basic|Token)\s+)?(?P<secret>\S+?)[\"']?\s*$")
_CREDENTIAL_KEY = re.compile(rf"(?i)^(?:{_CREDENTIAL_NAME})$")
_LONG_VALUE = re.compile(rf"^{_LONG_TOKEN}$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One key-shaped string: where it is, which rule saw it, and a hint that does not leak it."""

    path: Path | None
    line: int
    rule: str
    hint: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path else f"line {self.line}"
        return f"{where}: {self.rule} ({self.hint})"


def _hint(secret: str) -> str:
    return f"{secret[:6]}... {len(secret)} chars"


def _is_placeholder(rule: str, secret: str) -> bool:
    return rule == "bearer-token" and (
        secret.lower() in _PLACEHOLDERS or secret.startswith(("<", "{", "$"))
    )


def _matches(line: str, held_by: str | None) -> Iterator[tuple[str, re.Match[str]]]:
    for rule, pattern in _RULES:
        for match in pattern.finditer(line):
            if not _is_placeholder(rule, match.group("secret")):
                yield rule, match
    if held_by is not None and _CREDENTIAL_KEY.match(held_by):
        item = _YAML_ITEM.match(line)
        if item is not None and _LONG_VALUE.match(item.group("secret")):
            yield "credential-field", item


def _lines_with_keys(text: str) -> Iterator[tuple[int, str, str | None]]:
    """Each line with its number and the YAML key it is a list item of, if any."""
    held_by: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        yield number, line, held_by
        key = _YAML_KEY.match(line)
        if key is not None:
            held_by = key.group("name")
        elif not line.lstrip().startswith("- "):
            held_by = None


def find_secrets(text: str, path: Path | None = None) -> list[Finding]:
    """Every key-shaped string in `text`, in order, each named by line and rule."""
    findings: list[Finding] = []
    for number, line, held_by in _lines_with_keys(text):
        seen: set[tuple[int, int]] = set()
        for rule, match in _matches(line, held_by):
            if match.span("secret") not in seen:  # one finding per string, by its first rule
                seen.add(match.span("secret"))
                findings.append(Finding(path, number, rule, _hint(match.group("secret"))))
    return findings


def scan_tree(root: Path) -> list[Finding]:
    """Every key-shaped string in every file under `root` (binary files read as Latin-1)."""
    findings: list[Finding] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        findings.extend(find_secrets(text, path))
    return findings


def scrub(text: str) -> str:
    """`text` with every key-shaped string `find_secrets` reports on one line replaced."""
    if not find_secrets(text):
        return text
    lines = []
    for _, line, held_by in _lines_with_keys(text):
        for start, end in reversed(_merged(m.span("secret") for _, m in _matches(line, held_by))):
            line = line[:start] + REDACTED + line[end:]
        lines.append(line)
    ending = "\n" if text.endswith("\n") else ""
    return "\n".join(lines) + ending


def _merged(spans: Iterator[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans joined where they overlap, in order."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((start, end))
    return joined
