"""Where the API's tokens come from, and what a mistake in that set-up does (no bed needed)."""

from __future__ import annotations

import hashlib
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from gtp_remote.api.ratelimit import RateLimiter
from gtp_remote.errors import ForbiddenError, InventoryError, RateLimitedError, UnauthorizedError
from gtp_remote.settings import Settings
from gtp_remote.tokens import Authenticator, load_tokens


def _settings(state: Path) -> Settings:
    return replace(Settings.from_env(), state_dir=state)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GTP_TOKENS_FILE", "GTP_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_a_tokens_file_gives_named_scoped_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CHATGPT_TOKEN", "chatgpt-value")
    (tmp_path / "tokens.yaml").write_text(
        "tokens:\n"
        "  chatgpt: {env: CHATGPT_TOKEN, operations: [exec, llm]}\n"
        f"  auditor: {{sha256: {hashlib.sha256(b'auditor-value').hexdigest()}, servers: [db],"
        " operations: [files.read]}\n"
    )
    auth = Authenticator(load_tokens(_settings(tmp_path)))
    chatgpt = auth.authenticate("Bearer chatgpt-value")
    assert chatgpt.name == "chatgpt" and chatgpt.operations == {"exec", "llm"}
    with pytest.raises(ForbiddenError, match="lacks the 'approve' permission"):
        chatgpt.principal().require("approve")
    assert auth.authenticate("bearer auditor-value").servers == ("db",)
    with pytest.raises(UnauthorizedError, match="invalid bearer token"):
        auth.authenticate("Bearer chatgpt-valuE")
    assert auth.env_names() == {"CHATGPT_TOKEN"}
    assert auth.secrets_for_redaction() == ["chatgpt-value"]


def test_a_named_tokens_file_that_is_missing_stops_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Falling back to the generated token would give every permission to whoever holds it."""
    monkeypatch.setenv("GTP_TOKENS_FILE", str(tmp_path / "tokns.yaml"))
    monkeypatch.setenv("GTP_API_TOKEN", "would-be-fallback")
    with pytest.raises(InventoryError, match=r"GTP_TOKENS_FILE names .*tokns\.yaml, which is not a readable"):
        load_tokens(_settings(tmp_path))
    monkeypatch.delenv("GTP_TOKENS_FILE")
    (tmp_path / "tokens.yaml").symlink_to(tmp_path / "unmounted" / "tokens.yaml")  # the default place
    with pytest.raises(InventoryError, match=r"tokens\.yaml, which is not a readable file"):
        load_tokens(_settings(tmp_path))
    (tmp_path / "tokens.yaml").unlink()
    (tmp_path / "tokens.yaml").mkdir()
    with pytest.raises(InventoryError, match=r"tokens\.yaml, which is not a readable file"):
        load_tokens(_settings(tmp_path))
    assert not (tmp_path / "api-token").exists()


def test_rate_buckets_are_per_key_and_bounded(monkeypatch: pytest.MonkeyPatch):
    limiter = RateLimiter(rate=0.001, burst=2, what="tries")
    monkeypatch.setattr(RateLimiter, "MAX_KEYS", 3)
    for _ in range(2):
        limiter.check("a")
    with pytest.raises(RateLimitedError, match=r"too many tries \(limit 0\.001/s, bursts of 2\)"):
        limiter.check("a")
    for key in ("b", "c"):
        limiter.check(key)
    with pytest.raises(RateLimitedError):
        limiter.check("a")  # still remembered: seen more recently than none of the others
    limiter.check("d")  # a fourth key: the least recently seen ("b") is forgotten
    assert list(limiter._buckets) == ["c", "a", "d"]


def test_a_token_variable_that_is_not_set_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPS_TOKEN", raising=False)
    (tmp_path / "tokens.yaml").write_text("tokens:\n  ops: {env: OPS_TOKEN, operations: [approve]}\n")
    with pytest.raises(InventoryError, match=r"tokens\.ops\.env: environment variable OPS_TOKEN is not set"):
        load_tokens(_settings(tmp_path))
    (tmp_path / "tokens.yaml").write_text("tokens:\n  ops: {env: OPS_TOKEN, operations: [root]}\n")
    with pytest.raises(InventoryError, match="unknown operations"):
        load_tokens(_settings(tmp_path))


def test_without_a_file_the_env_token_then_a_generated_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GTP_API_TOKEN", "from-env")
    assert Authenticator(load_tokens(_settings(tmp_path))).authenticate("Bearer from-env").name == "default"
    monkeypatch.delenv("GTP_API_TOKEN")
    said: list[str] = []
    first = Authenticator(load_tokens(_settings(tmp_path / "state"), announce=said.append))
    stored = tmp_path / "state" / "api-token"
    value = stored.read_text().strip()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and value in said[0]
    assert first.authenticate(f"Bearer {value}").name == "default"
    load_tokens(_settings(tmp_path / "state"), announce=said.append)  # the same token again, not announced
    assert len(said) == 1 and stored.read_text().strip() == value
