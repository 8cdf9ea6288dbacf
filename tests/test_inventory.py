"""The inventory: every example of the product brief loads; every mistake is named precisely."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gtp_remote.config import load_inventory
from gtp_remote.errors import InventoryError, UnknownServerError

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "docs" / "seed-execute-llm.md"


def seed_config_blocks() -> list[str]:
    """Every configuration example of the brief: its code blocks holding JSON, minus requests."""
    blocks = re.findall(r"```\w*\n(.*?)```", SEED.read_text(), re.S)
    configs = []
    for body in blocks:
        if "{" not in body or body.lstrip().startswith("POST"):
            continue
        configs.append(body[body.index("{") :])
    return configs


def test_the_brief_has_four_configuration_examples():
    assert len(seed_config_blocks()) == 4


@pytest.mark.parametrize("index", range(4))
def test_each_seed_configuration_example_loads_as_written(tmp_path: Path, index: int):
    text = seed_config_blocks()[index]
    (tmp_path / "example.json").write_text(text)
    inv = load_inventory(tmp_path)
    doc = json.loads(text)
    if "servers" in doc:
        assert set(inv.servers) == set(doc["servers"])
        assert inv.servers["devops"].protocol == "ssh"
        assert inv.servers["devops"].host == "k8s-master"
        assert inv.servers["devops"].llm.provider == "lmstudio"
        assert inv.servers["database-ops"].protocol == "local"
        assert inv.servers["database-ops"].llm.model == "sqlcoder:7b"
    elif "hostname" in doc:
        server = inv.servers[doc["hostname"]]
        assert server.protocol == "ssh"
        assert server.host == doc["hostname"]
        assert server.llm.model == doc["llm"]["model"]
        assert server.llm.base_url == doc["llm"].get("baseUrl")
    else:
        assert inv.providers["ollama"].base_url == "http://localhost:11434"
        assert inv.providers["ollama"].default_model == "gpt-oss:20b"
        assert inv.providers["openai"].default_model == "gpt-4"


def test_shipped_examples_are_the_briefs_examples_and_all_load_together():
    shipped = sorted((ROOT / "hosts" / "examples").glob("seed-*.json"))
    canonical = lambda text: json.dumps(json.loads(text), sort_keys=True)  # noqa: E731
    assert {canonical(p.read_text()) for p in shipped} == {canonical(b) for b in seed_config_blocks()}
    inv = load_inventory(ROOT / "hosts" / "examples")
    assert {"database-server", "code-server", "database-ops", "code-ops", "devops", "db", "bastion"} <= set(
        inv.servers
    )
    db = inv.servers["db"]
    assert (db.jump, db.max_sessions, db.root, db.host_key_policy) == ("bastion", 8, "/srv/app", "strict")


def test_default_inventory_loads():
    inv = load_inventory(ROOT / "hosts")
    assert inv.servers["local"].protocol == "local"
    assert inv.providers["openai"].api_key_env == "OPENAI_API_KEY"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    return str(info.value)


def test_bad_port_names_file_server_and_field(tmp_path: Path):
    f = write(tmp_path, "prod.yaml", "servers:\n  db:\n    host: db.example\n    port: abc\n")
    assert error_of(tmp_path) == f'{f}: servers.db.port: must be an integer 1-65535, got "abc"'


def test_port_out_of_range(tmp_path: Path):
    write(tmp_path, "prod.yaml", "servers:\n  db:\n    host: x\n    port: 70000\n")
    assert "servers.db.port: must be an integer 1-65535, got 70000" in error_of(tmp_path)


def test_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path):
    f = write(tmp_path, "prod.yaml", "servers:\n  db:\n    host: x\n    max_sesions: 4\n")
    message = error_of(tmp_path)
    assert message.startswith(f"{f}: servers.db.max_sesions: unknown key; did you mean 'max_sessions'?")


def test_unknown_top_level_and_llm_keys(tmp_path: Path):
    write(tmp_path, "a.yaml", "server: {}\n")
    assert "a.yaml: server: unknown key; did you mean 'servers'?" in error_of(tmp_path)
    (tmp_path / "a.yaml").unlink()
    write(tmp_path, "b.json", '{"llm": {"providers": {"ollama": {"baseURL": "http://x"}}}}')
    assert "llm.providers.ollama.baseURL: unknown key; did you mean" in error_of(tmp_path)


def test_wrong_protocol_and_policy(tmp_path: Path):
    write(tmp_path, "a.yaml", "servers:\n  db: {protocol: telnet, host_key_policy: yes-please}\n")
    message = error_of(tmp_path)
    assert "servers.db.protocol: must be 'local' or 'ssh', got \"telnet\"" in message
    assert "servers.db.host_key_policy: must be 'strict' or 'accept-new'" in message


def test_secrets_are_refused_and_the_alternative_named(tmp_path: Path):
    write(tmp_path, "a.yaml", "servers:\n  db: {host: x, password: hunter2}\n")
    message = error_of(tmp_path)
    assert "servers.db.password: secrets are never stored in the inventory" in message
    assert "hunter2" not in message
    (tmp_path / "a.yaml").unlink()
    write(tmp_path, "b.yaml", "llm:\n  providers:\n    openai: {apiKey: sk-123}\n")
    message = error_of(tmp_path)
    assert "llm.providers.openai.apiKey: secrets are never stored" in message
    assert "sk-123" not in message


def test_duplicate_server_names_across_files(tmp_path: Path):
    a = write(tmp_path, "a.yaml", "servers:\n  db: {host: one}\n")
    b = write(tmp_path, "b.json", '{"servers": {"db": {"host": "two"}}}')
    assert error_of(tmp_path) == (
        f"{b}: servers.db: duplicate server name, already defined in {a}; "
        "server names must be unique across all inventory files"
    )


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path):
    f = write(tmp_path, "a.yaml", "servers:\n  db:\n    host: [x\n")
    assert error_of(tmp_path).startswith(f"{f}:")
    assert "invalid YAML" in error_of(tmp_path)


def test_unknown_provider_and_jump_loops(tmp_path: Path):
    write(tmp_path, "a.yaml", "servers:\n  db: {host: x, llm: {provider: olama}}\n")
    assert 'servers.db.llm.provider: unknown provider "olama"' in error_of(tmp_path)
    write(tmp_path, "a.yaml", "servers:\n  a: {host: x, jump: b}\n  b: {host: y, jump: a}\n")
    assert "jump hosts form a loop: a -> b -> a" in error_of(tmp_path)


def test_missing_inventory(tmp_path: Path):
    assert "inventory not found" in error_of(tmp_path / "nope")
    assert "no inventory files" in error_of(tmp_path)


def test_camel_and_snake_case_both_accepted(tmp_path: Path):
    write(
        tmp_path,
        "a.yaml",
        "servers:\n  a: {host: x, maxSessions: 4, connectTimeout: 3}\n  b: {host: y, max_sessions: 5}\n",
    )
    inv = load_inventory(tmp_path)
    assert (inv.servers["a"].max_sessions, inv.servers["a"].connect_timeout) == (4, 3)
    assert inv.servers["b"].max_sessions == 5


def test_targets(tmp_path: Path):
    write(
        tmp_path,
        "a.yaml",
        "servers:\n  a: {groups: [web]}\n  b: {host: x, groups: [web, db]}\n  c: {host: y, groups: db}\n",
    )
    inv = load_inventory(tmp_path)
    names = lambda t: [s.name for s in inv.resolve(t)]  # noqa: E731
    assert names("a") == ["a"]
    assert names("group:web") == ["a", "b"]
    assert names("c,group:web") == ["c", "a", "b"]
    assert names("all") == ["a", "b", "c"]
    assert names("b, b") == ["b"]
    with pytest.raises(UnknownServerError, match="unknown server 'd'"):
        inv.resolve("a,d")
    with pytest.raises(UnknownServerError, match="unknown group 'nope'; groups: db, web"):
        inv.resolve("group:nope")
    with pytest.raises(UnknownServerError) as info:
        inv.resolve("bb")
    assert "did you mean 'b'?" in str(info.value)
