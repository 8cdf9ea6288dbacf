"""The audit log: the hash chain catches an edited, removed or swapped line, even the last one."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from gtp_remote.audit import AuditLog, redact, tail, verify


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, secrets=["sekrit-token-value"])
    for i in range(20):
        audit.append(
            {"kind": "command", "n": i, "command": f"echo {i} ünïcode", "nested": {"list": [i, "x"]}}
        )
    return path


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_chain_is_built_and_verifies(log: Path):
    events = [json.loads(line) for line in lines(log)]
    assert [e["seq"] for e in events] == list(range(1, 21))
    assert events[0]["prev"] == "0" * 64
    assert all(b["prev"] == a["hash"] for a, b in pairwise(events))
    assert verify(log).ok and verify(log).lines == 20
    assert oct(log.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("index", [4, 19])
def test_an_edited_line_is_caught(log: Path, index: int):
    rows = lines(log)
    rows[index] = rows[index].replace('"n":' + str(index), '"n":999')
    log.write_text("".join(rows))
    result = verify(log)
    assert not result.ok and result.line == index + 1 and "edited" in result.error


def test_a_removed_line_is_caught(log: Path):
    rows = lines(log)
    log.write_text("".join(rows[:7] + rows[8:]))
    result = verify(log)
    assert not result.ok and result.line == 8 and "removed or reordered" in result.error


def test_lines_cut_from_the_end_are_caught(log: Path):
    log.write_text("".join(lines(log)[:-2]))
    result = verify(log)
    assert not result.ok and "head file records line 20" in result.error


def test_swapped_lines_are_caught(log: Path):
    rows = lines(log)
    rows[3], rows[4] = rows[4], rows[3]
    log.write_text("".join(rows))
    result = verify(log)
    assert not result.ok and result.line == 4


def test_two_writers_keep_one_chain(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    a, b = AuditLog(path), AuditLog(path)
    for i in range(10):
        (a if i % 2 else b).append({"i": i})
    assert verify(path).ok and verify(path).lines == 10


def test_secrets_never_reach_the_disk(log: Path, tmp_path: Path):
    audit = AuditLog(log, secrets=["sekrit-token-value"])
    audit.append(
        {
            "command": "curl -H 'Authorization: Bearer abc.def-ghi' https://u:pw123@x.example "
            "&& PGPASSWORD=hunter2 psql && mysql --password=s3cr3t",
            "output": {
                "lines": ["key sk-abcdefghijklmnopqrst", "AKIAABCDEFGHIJKLMNOP", "sekrit-token-value"]
            },
            "key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n-----END OPENSSH PRIVATE KEY-----",
        }
    )
    text = log.read_text()
    for secret in (
        "abc.def-ghi",
        "pw123",
        "hunter2",
        "s3cr3t",
        "sk-abcdefghijklmnopqrst",
        "AKIAABCDEFGHIJKLMNOP",
        "sekrit-token-value",
        "b3BlbnNzaC1rZXk=",
    ):
        assert secret not in text
    assert "Bearer [REDACTED]" in text and "PGPASSWORD=[REDACTED]" in text
    assert verify(log).ok


def test_harmless_text_is_untouched():
    for text in ("ls -la /tmp", "echo password", "grep -r token src/", "git log --oneline"):
        assert redact(text) == text


def test_tail_and_cli(log: Path):
    assert [e["n"] for e in tail(log, 3)] == [17, 18, 19]
    cli = [sys.executable, "-m", "gtp_remote", "audit"]
    ok = subprocess.run([*cli, "verify", str(log)], capture_output=True, text=True)
    assert ok.returncode == 0 and "20 events" in ok.stdout
    shown = subprocess.run([*cli, "tail", str(log), "-n", "2"], capture_output=True, text=True)
    assert [json.loads(x)["n"] for x in shown.stdout.splitlines()] == [18, 19]
