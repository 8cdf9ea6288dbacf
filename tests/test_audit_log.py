"""The audit log: the hash chain catches an edited, removed or swapped line, even the last one."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from gtp_remote.audit import HEAD_SIZE, AuditLog, AuditWriter, head_path, redact, tail, verify


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


async def test_events_recorded_together_share_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path, secrets=["sekrit-token-value"])
    batches: list[int] = []
    append_many = audit.append_many
    monkeypatch.setattr(
        audit, "append_many", lambda events: batches.append(len(events)) or append_many(events)
    )
    writer = AuditWriter(audit)
    events = [{"i": i, "token": "sekrit-token-value"} for i in range(50)]
    written = await asyncio.gather(*(writer.record(e) for e in events))
    await writer.close()
    # Every caller got its own event back, in order, on one whole chain.
    assert [w["i"] for w in written] == list(range(50)) and [w["seq"] for w in written] == list(range(1, 51))
    assert all(w["token"] == "[REDACTED]" for w in written)
    assert verify(path).ok and verify(path).lines == 50
    # The first event went alone; the 49 queued behind it shared the next write and fsync.
    assert sum(batches) == 50 and len(batches) < 50, batches
    # The head is one fixed-size record, rewritten in place.
    assert head_path(path).stat().st_size == HEAD_SIZE
    assert json.loads(head_path(path).read_text()) == {"seq": 50, "hash": written[-1]["hash"]}


async def test_a_failed_write_reaches_every_waiter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    audit = AuditLog(tmp_path / "audit.jsonl")

    def full(events: list) -> list:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit, "append_many", full)
    writer = AuditWriter(audit)
    results = await asyncio.gather(*(writer.record({"i": i}) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, OSError) and "No space" in str(r) for r in results)


async def test_an_added_event_goes_out_with_the_next_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    batches: list[list[str]] = []
    append_many = audit.append_many
    monkeypatch.setattr(
        audit,
        "append_many",
        lambda events: batches.append([e["what"] for e in events]) or append_many(events),
    )
    writer = AuditWriter(audit)
    writer.add({"what": "job"})
    assert not path.read_text()  # queued, not written
    await writer.record({"what": "request"})
    # On disk before record returned, in one write and fsync, in the order they came.
    assert batches == [["job", "request"]]
    assert [json.loads(line)["what"] for line in path.read_text().splitlines()] == ["job", "request"]


async def test_an_added_event_alone_is_written_soon_and_on_close(tmp_path: Path):
    path = tmp_path / "audit.jsonl"
    writer = AuditWriter(AuditLog(path))
    writer.add({"what": "alone"})
    for _ in range(100):
        await asyncio.sleep(writer.ADD_WINDOW / 5)
        if path.read_text():
            break
    assert [json.loads(line)["what"] for line in path.read_text().splitlines()] == ["alone"]
    writer.add({"what": "at close"})
    await writer.close()
    assert verify(path).ok and verify(path).lines == 2


async def test_a_queued_event_whose_write_failed_goes_out_with_the_next_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    path = tmp_path / "audit.jsonl"
    audit = AuditLog(path)
    append_many = audit.append_many
    failures = [OSError(28, "No space left on device")]

    def flaky(events: list) -> list:
        if failures:
            raise failures.pop()
        return append_many(events)

    monkeypatch.setattr(audit, "append_many", flaky)
    writer = AuditWriter(audit)
    writer.add({"what": "job"})
    await asyncio.sleep(writer.ADD_WINDOW * 3)  # its own batch: it fails, and nobody waits on it
    assert "1 queued event(s) not written yet" in caplog.text and not path.read_text()
    await writer.record({"what": "request"})  # cannot succeed without the queued one
    assert [json.loads(line)["what"] for line in path.read_text().splitlines()] == ["job", "request"]


async def test_a_broken_log_fails_every_record_and_is_not_retried_in_a_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    audit = AuditLog(tmp_path / "audit.jsonl")
    calls: list[int] = []

    def broken(events: list) -> list:
        calls.append(len(events))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit, "append_many", broken)
    writer = AuditWriter(audit)
    writer.add({"i": 1})
    with pytest.raises(OSError, match="No space"):
        await writer.record({"i": 2})
    with pytest.raises(OSError, match="No space"):
        await writer.record({"i": 3})
    await writer.close()
    assert calls == [2, 2, 1]  # the queued event rides with each record, then one last try
    assert "could not be written before closing" in caplog.text


def test_a_head_from_an_older_version_is_continued(log: Path):
    head_path(log).write_text(json.dumps(json.loads(head_path(log).read_text())))  # short, unpadded
    AuditLog(log).append({"after": "upgrade"})
    assert verify(log).ok and verify(log).lines == 21 and head_path(log).stat().st_size == HEAD_SIZE


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


def test_a_string_utf8_cannot_hold_is_written_escaped_and_the_log_goes_on(tmp_path: Path):
    """A lone surrogate (JSON lets ``\\ud800`` through from a client) once made an event
    unwritable, and the writer, keeping order, refused every later one."""
    log = AuditLog(tmp_path / "audit.jsonl")
    log.append({"kind": "request", "client": "\ud800x", "\udcff": "key"})
    log.append({"kind": "request", "client": "fine é"})
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "\\\\ud800x" in lines[0] and "é" in lines[1]
    assert verify(tmp_path / "audit.jsonl").ok
