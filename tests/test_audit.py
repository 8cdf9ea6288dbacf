"""The audit log: a hash chain that shows edits, removals and cuts; secrets never reach the disk."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import threading
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from gtp_remote import audit
from gtp_remote.audit import GENESIS, AuditLog, AuditLogError, VerifyResult, head_path, redact, tail, verify

SECRET = "tok-3f9a2c7e1b5d4a60"  # a gateway token given to the constructor


def varied_event(i: int) -> dict[str, Any]:
    """Events shaped like the gateway's, plus the awkward cases: nesting, unicode, None, floats."""
    kinds = ["request", "command", "file"]
    return {
        "kind": kinds[i % 3],
        "request_id": f"req-{i:04d}",
        "token": "alice" if i % 2 else "bob",
        "server": ["db", "web-1", "cache"][i % 3],
        "command": f'echo {i} ünïcödé ✓ 日本語 "quoted" \\back\\slash\ttab',
        "exit_code": i % 4,
        "duration_ms": i * 1.5,
        "ok": i % 5 != 0,
        "error": None,
        "nested": {"list": [i, "x", {"deep": ["é", None, True]}], "empty": {}, "none": []},
    }


def build(path: Path, n: int = 50) -> list[dict[str, Any]]:
    log = AuditLog(path, secrets=[SECRET])
    return [log.append(varied_event(i)) for i in range(n)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.jsonl"


@pytest.fixture
def log50(path: Path) -> Path:
    build(path)
    return path


def rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def write_rows(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def rehash(event: dict[str, Any]) -> str:
    """What someone editing the log would do to make an edited line look whole again."""
    event["hash"] = audit._hash(event)
    return audit._canonical(event) + "\n"


# -- the chain -----------------------------------------------------------------------------------


def test_append_builds_the_chain_and_verify_passes(log50: Path):
    events = [json.loads(line) for line in rows(log50)]
    assert [e["seq"] for e in events] == list(range(1, 51))
    assert events[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in pairwise(events))
    for event in events:
        assert re.fullmatch(r"[0-9a-f]{64}", event["hash"])
        body = {k: v for k, v in event.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert audit.hashlib.sha256(canonical.encode()).hexdigest() == event["hash"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["time"])
    assert events[7]["nested"] == varied_event(7)["nested"] and "日本語" in events[7]["command"]
    assert "日本語" in log50.read_text(encoding="utf-8")  # ensure_ascii=False: readable on disk
    assert verify(log50) == VerifyResult(True, 50, None, None)
    assert json.loads(head_path(log50).read_text()) == {"seq": 50, "hash": events[-1]["hash"]}
    assert head_path(log50).name == "audit.jsonl.head"


def test_append_returns_the_line_as_written(path: Path):
    log = AuditLog(path)
    written = log.append({"kind": "request", "time": "2026-11-25T09:12:03.123Z", "seq": 99, "hash": "x"})
    assert written == json.loads(rows(path)[0])
    assert written["time"] == "2026-11-25T09:12:03.123Z"  # a caller's time is kept
    assert written["seq"] == 1 and written["prev"] == GENESIS  # a caller's seq/hash are not
    assert verify(path).ok


def test_the_log_and_its_head_are_private(path: Path):
    build(path, 2)
    assert path.parent.is_dir()  # parents created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(head_path(path).stat().st_mode) == 0o600


def test_an_existing_readable_log_is_made_private(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    path.touch()
    path.chmod(0o644)
    AuditLog(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- verify catches tampering --------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 6, 49])
def test_an_edited_field_is_caught_even_on_the_last_line(log50: Path, index: int):
    lines = rows(log50)
    event = json.loads(lines[index])
    event["exit_code"] = 0 if event["exit_code"] else 1
    lines[index] = audit._canonical(event) + "\n"
    write_rows(log50, lines)
    result = verify(log50)
    assert not result.ok and result.line == index + 1
    assert result.error == f"line {index + 1}: hash mismatch (the line was edited)"


def test_an_edit_by_hand_in_place_is_caught(log50: Path):
    text = log50.read_text(encoding="utf-8")
    line7 = rows(log50)[6]
    write_rows(log50, [text.replace(line7, line7.replace('"exit_code":2', '"exit_code":0'))])
    assert verify(log50).line == 7 and "hash mismatch" in (verify(log50).error or "")


def test_an_edited_and_rehashed_line_breaks_the_next_link(log50: Path):
    lines = rows(log50)
    event = json.loads(lines[6])
    event["command"] = "echo nothing to see"
    lines[6] = rehash(event)
    write_rows(log50, lines)
    result = verify(log50)
    assert not result.ok and result.line == 8
    assert result.error == "line 8: prev does not match line 7's hash (a line was removed or reordered)"


def test_a_removed_middle_line_is_caught(log50: Path):
    lines = rows(log50)
    write_rows(log50, lines[:4] + lines[5:])
    result = verify(log50)
    assert not result.ok and result.line == 5 and result.lines == 5
    assert result.error == "line 5: seq is 6, expected 5 (a line was removed or reordered)"


def test_a_removed_line_with_the_rest_renumbered_is_caught(log50: Path):
    events = [json.loads(line) for line in rows(log50)]
    del events[9]
    for number, event in enumerate(events[9:], 10):
        event["seq"] = number
    write_rows(log50, rows(log50)[:9] + [rehash(e) for e in events[9:]])
    result = verify(log50)
    assert not result.ok and result.line == 10
    assert result.error == "line 10: prev does not match line 9's hash (a line was removed or reordered)"


@pytest.mark.parametrize("cut", [1, 3])
def test_lines_cut_from_the_end_are_caught_by_the_head(log50: Path, cut: int):
    write_rows(log50, rows(log50)[:-cut])
    result = verify(log50)
    end = 50 - cut
    assert not result.ok and result.lines == end and result.line == end + 1
    assert result.error == (
        f"log ends at line {end} but the head file records line 50 (lines were removed from the end)"
    )


def test_a_replaced_and_rehashed_last_line_is_caught_by_the_head(log50: Path):
    lines = rows(log50)
    event = json.loads(lines[-1])
    event["exit_code"] = 0
    lines[-1] = rehash(event)
    write_rows(log50, lines)
    result = verify(log50)
    assert not result.ok and result.line == 50 and "does not match the head file" in (result.error or "")


def test_swapped_lines_are_caught(log50: Path):
    lines = rows(log50)
    lines[11], lines[12] = lines[12], lines[11]
    write_rows(log50, lines)
    result = verify(log50)
    assert not result.ok and result.line == 12
    assert result.error == "line 12: seq is 13, expected 12 (a line was removed or reordered)"


def test_a_line_that_is_not_json_is_caught(log50: Path):
    lines = rows(log50)
    lines[2] = lines[2][:40] + "\n"
    write_rows(log50, lines)
    result = verify(log50)
    assert not result.ok and result.line == 3 and (result.error or "").startswith("line 3: not valid JSON")


def test_a_missing_head_file_is_an_error(log50: Path):
    head_path(log50).unlink()
    result = verify(log50)
    assert not result.ok and (result.error or "").startswith("head file missing")


def test_an_empty_or_missing_log_is_ok(tmp_path: Path):
    assert verify(tmp_path / "none.jsonl") == VerifyResult(True, 0, None, None)
    (tmp_path / "empty.jsonl").touch()
    assert verify(tmp_path / "empty.jsonl") == VerifyResult(True, 0, None, None)
    assert tail(tmp_path / "none.jsonl") == [] and tail(tmp_path / "empty.jsonl") == []


def test_an_emptied_or_deleted_log_whose_head_remains_is_caught(log50: Path):
    log50.write_text("")
    assert verify(log50).error == (
        "log ends at line 0 but the head file records line 50 (lines were removed from the end)"
    )
    log50.unlink()
    assert not verify(log50).ok


def test_a_head_one_line_behind_is_what_a_crash_leaves_and_is_accepted(log50: Path):
    events = [json.loads(line) for line in rows(log50)]
    head_path(log50).write_text(json.dumps({"seq": 49, "hash": events[48]["hash"]}))
    assert verify(log50) == VerifyResult(True, 50, None, None)
    head_path(log50).write_text(json.dumps({"seq": 49, "hash": events[47]["hash"]}))
    assert verify(log50).line == 49 and not verify(log50).ok


def test_appending_after_a_cut_keeps_the_cut_visible(log50: Path):
    write_rows(log50, rows(log50)[:-2])
    AuditLog(log50).append({"kind": "request"})  # a fresh process: it reads the file and the head
    result = verify(log50)
    assert not result.ok and result.line == 49
    assert result.error == "line 49: seq is 51, expected 49 (a line was removed or reordered)"


def test_appending_after_a_torn_last_line_refuses(log50: Path):
    with open(log50, "a", encoding="utf-8") as f:
        f.write('{"kind":"comm')
    with pytest.raises(AuditLogError, match="last line is not an audit event"):
        AuditLog(log50).append({"kind": "request"})


# -- several writers -----------------------------------------------------------------------------


def test_a_second_instance_continues_the_chain(log50: Path):
    last = json.loads(rows(log50)[-1])
    written = AuditLog(log50).append({"kind": "request", "n": "again"})
    assert written["seq"] == 51 and written["prev"] == last["hash"]
    assert verify(log50) == VerifyResult(True, 51, None, None)


def test_two_instances_appending_alternately_keep_one_chain(path: Path):
    a, b = AuditLog(path), AuditLog(path)
    written = [(a if i % 2 else b).append({"i": i}) for i in range(30)]
    assert [e["seq"] for e in written] == list(range(1, 31))
    assert all(y["prev"] == x["hash"] for x, y in pairwise(written))
    assert verify(path) == VerifyResult(True, 30, None, None)


def test_the_last_line_is_reread_only_when_someone_else_wrote(path: Path, monkeypatch: pytest.MonkeyPatch):
    reads: list[int] = []
    real = audit._read_last_line

    def counting(f: Any, size: int) -> bytes:
        reads.append(size)
        return real(f, size)

    monkeypatch.setattr(audit, "_read_last_line", counting)
    a, b = AuditLog(path), AuditLog(path)
    for i in range(10):
        a.append({"i": i})
    assert len(reads) == 1  # the first append only
    b.append({"from": "b"})
    assert len(reads) == 2  # b's first append
    a.append({"i": 10})
    assert len(reads) == 3  # a sees the file grew behind its back
    a.append({"i": 11})
    assert len(reads) == 3
    assert verify(path).ok and verify(path).lines == 13


def test_threads_share_one_instance(path: Path):
    log = AuditLog(path)

    def work(t: int) -> None:
        for i in range(25):
            log.append({"thread": t, "i": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert verify(path) == VerifyResult(True, 100, None, None)


def test_processes_appending_at_once_keep_one_chain(path: Path):
    code = (
        "import sys; from pathlib import Path; from gtp_remote.audit import AuditLog\n"
        "log = AuditLog(Path(sys.argv[1]))\n"
        "for i in range(40): log.append({'pid': sys.argv[2], 'i': i})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(n)]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert verify(path) == VerifyResult(True, 160, None, None)
    events = [json.loads(line) for line in rows(path)]
    for n in range(4):  # each process's own events stay in its order
        assert [e["i"] for e in events if e["pid"] == str(n)] == list(range(40))


# -- redaction -----------------------------------------------------------------------------------

R = "[REDACTED]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("curl -H 'Authorization: Bearer abc.def-ghi_123'", f"curl -H 'Authorization: Bearer {R}'"),
        ("authorization: bearer eyJhbGciOi.x.y", f"authorization: bearer {R}"),
        ("OPENAI_KEY sk-proj-abcDEF123_-xyz and sk-short", f"OPENAI_KEY {R} and sk-short"),
        (
            "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nq83/+abc=\n"
            "-----END RSA PRIVATE KEY-----\ny",
            f"x\n{R}\ny",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----", R),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n(output truncated)", R),
        ("login password=hunter2 now", f"login password={R} now"),
        ("PASSWORD=Hunter2&next=1", f"PASSWORD={R}&next=1"),
        ("passwd=a;pwd=b", f"passwd={R};pwd={R}"),
        (
            "secret=s1 token=t1 api_key=k1 apikey=k2 access_key=k3",
            f"secret={R} token={R} api_key={R} apikey={R} access_key={R}",
        ),
        (
            "curl 'https://x.example/api?token=abc123&page=2'",
            f"curl 'https://x.example/api?token={R}&page=2'",
        ),
        ('echo "password=hunter2"', f'echo "password={R}"'),
        ("export DB_PASSWORD='two words'", f"export DB_PASSWORD='{R}'"),
        ('{"password": "hun\\"ter2", "user": "bob"}', f'{{"password": "{R}", "user": "bob"}}'),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG", f"aws_secret_access_key = {R}"),
        ("mount -o username=bob,password=pw1,uid=1000", f"mount -o username=bob,password={R},uid=1000"),
        ("mysql --password s3cr3t -u root", f"mysql --password {R} -u root"),
        ("mysql --password=s3cr3t -u root", f"mysql --password={R} -u root"),
        ("tool --db-password 'two words' --verbose", f"tool --db-password '{R}' --verbose"),
        ("PGPASSWORD=hunter2 psql -h db", f"PGPASSWORD={R} psql -h db"),
        ("key AKIAIOSFODNN7EXAMPLE used", f"key {R} used"),
        ("psql postgres://app:s3cr3t@db:5432/app", f"psql postgres://app:{R}@db:5432/app"),
        ("redis-cli -u redis://:pw0rd@cache:6379", f"redis-cli -u redis://:{R}@cache:6379"),
        ("git clone https://token:ghx@github.com/o/r", f"git clone https://token:{R}@github.com/o/r"),
    ],
)
def test_redact_patterns(text: str, expected: str):
    assert redact(text) == expected
    assert redact(expected) == expected  # redacting twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "ls -la /tmp",
        "echo password",
        "grep -r token src/",
        "cat /etc/passwd",
        "if password == other: pass",
        "max_tokens=100",
        "the secret to success",
        "git log --oneline --no-password",
        "psql --no-password -h db",
        "curl http://host:8080/path@x",
        "task-runner --disk-size 10",
        "ünïcode ✓ 日本語",
        "",
    ],
)
def test_harmless_text_is_unchanged(text: str):
    assert redact(text) == text


def test_the_quick_check_never_skips_text_a_pattern_would_change(monkeypatch: pytest.MonkeyPatch):
    """redact() skips the patterns when no trigger word is in the text: on text built from the
    patterns' own pieces, the answers must be those of running every pattern."""
    import random
    import re

    import gtp_remote.audit as audit

    pieces = [
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "Bearer ",
        "bearer\t",
        "Authorization: Basic ",
        "sk-",
        "AKIA",
        "ASIA",
        "ghp_",
        "gho_",
        "github_pat_",
        "--db-password",
        "--api-key",
        "--token",
        "PASSWORD",
        "passwd",
        "pwd",
        "Secret",
        "TOKEN",
        "api_key",
        "apikey",
        "access-key",
        "private_key",
        "://",
        "https://u",
        ":",
        "=",
        " ",
        "\t",
        "@",
        "'",
        '"',
        "&",
        ";",
        "x",
        "ABCDEFGHIJKLMNOP0123",
        "abcdefghijklmnopqrstuvwxyz0123456789",
        "/",
        "-",
        "\n",
        "é",
    ]
    rng = random.Random(5)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) for _ in range(4000)]
    quick = [redact(t) for t in texts]
    monkeypatch.setattr(audit, "_TRIGGERS", re.compile(""))  # matches everything: no skipping
    assert [redact(t) for t in texts] == quick
    assert sum(q != t for q, t in zip(quick, texts, strict=True)) > 1000  # the corpus does hit the patterns


def test_literal_secrets_longest_first_and_short_ones_ignored():
    assert redact("abcdef123 abcdef123456", ["abcdef123", "abcdef123456"]) == f"{R} {R}"
    assert redact("id=abc abc", ["abc", ""]) == "id=abc abc"  # < 6 chars: would wreck the log


def test_the_method_uses_the_configured_and_added_secrets(path: Path):
    log = AuditLog(path, secrets=[SECRET, "", "short"])
    assert log.redact(f"x {SECRET} short") == f"x {R} short"
    assert log.redact("late-token-987654 tiny") == "late-token-987654 tiny"  # remembered ...
    log.add_secret("late-token-987654")  # ... until a secret is added
    log.add_secret("tiny")
    assert log.redact("late-token-987654 tiny") == f"{R} tiny"


def test_secrets_never_reach_the_disk_even_when_nested(path: Path):
    log = AuditLog(path, secrets=[SECRET])
    log.add_secret("added-later-secret")
    written = log.append(
        {
            "kind": "command",
            "command": f"curl -H 'Authorization: Bearer {SECRET}' https://u:pw123@x.example",
            "output": {
                "lines": [f"echo {SECRET}", {"deeper": ["PGPASSWORD=hunter2", ("sk-abcdefghijklmnopqrst",)]}],
                f"key {SECRET}": "added-later-secret",
            },
            "path": Path(f"/home/{SECRET}/x"),  # not JSON: made a string, then redacted
            "exit_code": 0,
        }
    )
    data = path.read_bytes()
    for secret in (SECRET, "pw123", "hunter2", "sk-abcdefghijklmnopqrst", "added-later-secret"):
        assert secret.encode() not in data and secret not in json.dumps(written)
        assert secret.encode() not in head_path(path).read_bytes()
    assert written["output"]["lines"][1]["deeper"] == [f"PGPASSWORD={R}", [R]]
    assert written["path"] == f"/home/{R}/x" and written["exit_code"] == 0
    assert verify(path).ok


# -- tail ----------------------------------------------------------------------------------------


def test_tail_returns_the_last_n_in_order(log50: Path):
    assert [e["request_id"] for e in tail(log50, 3)] == ["req-0047", "req-0048", "req-0049"]
    assert [e["seq"] for e in tail(log50)] == list(range(31, 51))
    assert [e["seq"] for e in tail(log50, 500)] == list(range(1, 51))
    assert tail(log50, 0) == []


def test_tail_reads_across_blocks(path: Path):
    log = AuditLog(path)
    for i in range(300):
        log.append({"i": i, "output": "x" * 1000})  # ~300 KB: several 64 KB blocks
    assert path.stat().st_size > 4 * 65536
    assert [e["i"] for e in tail(path, 150)] == list(range(150, 300))
    assert [e["i"] for e in tail(path, 1)] == [299]


def test_tail_does_not_read_a_big_log_whole(path: Path, monkeypatch: pytest.MonkeyPatch):
    log = AuditLog(path)
    for i in range(400):
        log.append({"i": i, "output": "y" * 1000})
    read: list[int] = []
    real_open = open

    class Counting:
        def __init__(self, f: Any) -> None:
            self.f = f

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

        def read(self, size: int = -1) -> bytes:
            data = self.f.read(size)
            read.append(len(data))
            return data

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    monkeypatch.setattr(audit, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    assert [e["i"] for e in tail(path, 5)] == list(range(395, 400))
    assert sum(read) <= 65536 < os.path.getsize(path)
