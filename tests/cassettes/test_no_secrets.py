"""No cassette holds a credential: the scan of cassettes/, and the recording rules that scrub."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import vcr
import yaml

from tests.cassettes.keyscan import Finding, find_secrets, scan_tree, scrub
from tests.cassettes.recording import CASSETTES, FAULT_SERVER_HOST, vcr_config

# Fake keys of each shape, assembled at run time so that no key-shaped text sits in the source.
FAKE_KEYS = {
    "openai-key": "sk-" + "proj-" + "Zx9Qw2" * 8,
    "anthropic-key": "sk-" + "ant-" + "api03-" + "Rt5Yu7" * 8,
    "aws-access-key": "AKIA" + "Q7W3E9R1T5Y2U8I4",
    "google-api-key": "AIza" + "Sy" + "B4n8M2k6J0h3G7f1D5s9A2p6O0i4U8y3T7r",
    "bearer-token": "Bearer " + "eyJhbGciOi" + "Jv8Hq3Lx" * 3,
}
GENERIC_TOKEN = "9f86d081884c7d65" + "9a2feaa0c55ad015"


def test_no_cassette_holds_a_key_shaped_secret() -> None:
    """Every file under cassettes/ is free of anything shaped like an API key or bearer token."""
    cassettes = [p for p in CASSETTES.rglob("*") if p.is_file()]

    findings = scan_tree(CASSETTES)

    assert cassettes, "no cassettes to scan: run scripts/record_cassettes.py"
    assert not findings, "key-shaped secrets in cassettes:\n" + "\n".join(map(str, findings))


@pytest.mark.parametrize("rule", sorted(FAKE_KEYS))
def test_scanner_names_the_file_and_line_of_a_planted_key(rule: str, tmp_path: Path) -> None:
    """A provider key planted in a cassette-shaped file is reported with its file, line and rule."""
    planted = tmp_path / "nested" / "planted.yaml"
    planted.parent.mkdir()
    planted.write_text(
        "interactions:\n- request:\n    body: '{\"messages\": []}'\n"
        f"    note: 'left by mistake: {FAKE_KEYS[rule]}'\n",
        "utf-8",
    )

    (finding,) = scan_tree(tmp_path)

    assert (finding.path, finding.line, finding.rule) == (planted, 4, rule)
    assert str(finding).startswith(f"{planted}:4: {rule}")
    assert FAKE_KEYS[rule] not in str(finding)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (f"    headers:\n      x-api-key:\n      - {GENERIC_TOKEN}\n", 3),
        (f"    headers:\n      authorization:\n      - Token {GENERIC_TOKEN}\n", 3),
        (f'    body: \'{{"model": "m", "api_key": "{GENERIC_TOKEN}"}}\'\n', 1),
        (f"    uri: http://example.invalid/v1/models?key={GENERIC_TOKEN}&page=2\n", 1),
    ],
    ids=["yaml-header", "yaml-token-scheme", "json-field", "query"],
)
def test_scanner_finds_a_long_token_in_a_credential_field(text: str, line: int) -> None:
    """A 32-character hex token is a finding when a credential-named field holds it."""
    assert [(f.line, f.rule) for f in find_secrets(text)] == [(line, "credential-field")]


def test_scanner_lets_placeholders_and_ordinary_ids_pass() -> None:
    """Placeholder bearer tokens, response ids, request ids and token counts are not secrets."""
    text = (
        "      authorization:\n      - Bearer test\n      - Bearer REDACTED\n"
        f"      x-request-id:\n      - req_{GENERIC_TOKEN}\n"
        f'    string: \'{{"id": "chatcmpl-{GENERIC_TOKEN}", "usage": {{"prompt_tokens": 4}}}}\'\n'
    )

    assert find_secrets(text) == []


def test_scrub_replaces_only_the_secret() -> None:
    """Scrubbing swaps each key-shaped string for REDACTED and leaves the text around it alone."""
    text = f'{{"api_key": "{GENERIC_TOKEN}", "note": "{FAKE_KEYS["openai-key"]} here", "n": 1}}'

    assert scrub(text) == '{"api_key": "REDACTED", "note": "REDACTED here", "n": 1}'


def test_a_recording_keeps_no_credentials_and_no_port(tmp_path: Path) -> None:
    """Recorded under the project's rules, credentials are dropped or scrubbed, the port is gone."""

    def provider(request: httpx.Request) -> httpx.Response:
        body = f'{{"echo": "{FAKE_KEYS["anthropic-key"]}"}}'.encode()
        headers = {"set-cookie": "session=abc", "openai-organization": "org-someone"}
        return httpx.Response(200, headers=headers, content=body)

    recorder = vcr.VCR(**{**vcr_config(record_mode="all"), "cassette_library_dir": str(tmp_path)})
    client = httpx.Client(transport=httpx.MockTransport(provider))
    with recorder.use_cassette("recorded.yaml"):
        client.post(
            f"http://127.0.0.1:43210/v1/chat/completions?api_key={GENERIC_TOKEN}&page=2",
            headers={
                "Authorization": FAKE_KEYS["bearer-token"],
                "x-api-key": FAKE_KEYS["openai-key"],
                "X-Stainless-OS": "Linux",
            },
            json={"model": "m", "metadata": {"token": FAKE_KEYS["google-api-key"]}},
        )
    text = (tmp_path / "recorded.yaml").read_text("utf-8")
    (interaction,) = yaml.safe_load(text)["interactions"]
    request, response = interaction["request"], interaction["response"]

    assert scan_tree(tmp_path) == []
    assert request["uri"] == f"http://{FAULT_SERVER_HOST}/v1/chat/completions?page=2"
    assert request["headers"]["host"] == [FAULT_SERVER_HOST]
    assert {"authorization", "x-api-key", "x-stainless-os"}.isdisjoint(
        map(str.lower, request["headers"])
    )
    assert request["body"] == '{"model":"m","metadata":{"token":"REDACTED"}}'
    assert {"set-cookie", "openai-organization"}.isdisjoint(response["headers"])
    assert response["body"]["string"] == '{"echo": "REDACTED"}'


def test_finding_without_a_path_names_its_line() -> None:
    """A finding in text that came from no file still says which line holds it."""
    assert (
        str(Finding(None, 7, "openai-key", "sk-pro... 51 chars"))
        == "line 7: openai-key (sk-pro... 51 chars)"
    )
