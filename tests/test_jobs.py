"""The job store: rows written inline, the WAL checkpointed off the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gtp_remote import jobs
from gtp_remote.jobs import Job, JobStore


def job(i: int) -> Job:
    return Job(id=f"j{i}", token="t", operation="execute-shell", server="db", request={"command": "x" * 500})


async def test_a_saved_row_is_in_the_database_at_once(tmp_path: Path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    store.save(job(1))  # no await: the write is done when save returns
    other = sqlite3.connect(tmp_path / "jobs.sqlite3")
    assert other.execute("select id, status from jobs").fetchall() == [("j1", "running")]
    assert (await store.load("j1")).request == {"command": "x" * 500}
    store.close()


async def wal_after(tmp_path: Path, writes: int) -> int:
    store = JobStore(tmp_path / "jobs.sqlite3")
    for i in range(writes):
        store.save(job(i))
        if store._checkpointing is not None:
            await store._checkpointing  # (a busy server just goes on; the test waits to measure)
    size = (tmp_path / "jobs.sqlite3-wal").stat().st_size
    assert len(await store.recent(None, 1000)) == writes
    store.close()
    return size


async def test_the_wal_is_checkpointed_off_the_loop_every_n_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(jobs, "CHECKPOINT_EVERY", 10**9)
    (tmp_path / "a").mkdir()
    unchecked = await wal_after(tmp_path / "a", 300)
    monkeypatch.setattr(jobs, "CHECKPOINT_EVERY", 20)
    (tmp_path / "b").mkdir()
    checked = await wal_after(tmp_path / "b", 300)
    # Without checkpoints every write grows the WAL; with them it starts over from its head.
    assert unchecked > 3 * checked, (unchecked, checked)
    # close() leaves the whole history in the database and no WAL behind.
    wal = tmp_path / "b" / "jobs.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    rows = sqlite3.connect(tmp_path / "b" / "jobs.sqlite3").execute("select count(*) from jobs").fetchone()
    assert rows == (300,)


async def test_a_checkpoint_runs_in_a_worker_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import threading

    seen: list[str] = []
    real = asyncio.to_thread

    async def spy(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(str(args[0]) if args else "")
        return await real(lambda: (seen.append(threading.current_thread().name), func(*args, **kwargs))[1])

    monkeypatch.setattr(jobs, "CHECKPOINT_EVERY", 3)
    monkeypatch.setattr(jobs.asyncio, "to_thread", spy)
    store = JobStore(tmp_path / "jobs.sqlite3")
    for i in range(3):
        store.save(job(i))
    assert store._checkpointing is not None
    await store._checkpointing
    assert seen[0] == "pragma wal_checkpoint(passive)"
    assert seen[1] != threading.main_thread().name
    store.close()


async def test_shutdown_leaves_a_finishing_job_its_outcome(tmp_path: Path):
    """A job already saving and auditing its outcome when the server stops keeps it."""
    entered, release = asyncio.Event(), asyncio.Event()
    audited: list[str] = []

    async def slow_audit(job: Job) -> None:
        entered.set()
        await release.wait()
        audited.append(job.status)

    manager = jobs.JobManager(JobStore(tmp_path / "jobs.sqlite3"), on_finish=slow_audit)

    async def work(job: Job) -> dict:
        return {"ok": True}

    started = await manager.start(token="t", operation="execute-shell", server="db", request={}, work=work)
    await entered.wait()
    stopping = asyncio.ensure_future(manager.shutdown())
    await asyncio.sleep(0.05)
    release.set()
    await stopping
    assert started.status == "succeeded" and audited == ["succeeded"]
    assert (await manager.store.load(started.id)).status == "succeeded"


async def test_a_stored_pending_action_keeps_no_values_or_contents(tmp_path: Path):
    """The live job shows an approver everything; the database keeps what the action is and why
    it waits, with variable names only and a content's length and hash, never the secrets."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    waiting = job(1)
    waiting.status = "awaiting_approval"
    waiting.pending = {
        "id": "p1",
        "command": "ls",
        "env": {"LD_PRELOAD": "/tmp/hook-secret.so"},
        "env_safe": ["PGPASSWORD"],
        "content": "password=content-secret",
        "arguments": {"content": "password=content-secret"},
        "something_new": "not-whitelisted",
        "rule": "write:**",
    }
    store.save(waiting)
    row = sqlite3.connect(tmp_path / "jobs.sqlite3").execute("select pending from jobs").fetchone()[0]
    for secret in ("hook-secret", "content-secret", "not-whitelisted"):
        assert secret not in row
    stored = (await store.load("j1")).pending
    assert stored["env"] == ["LD_PRELOAD", "PGPASSWORD"] and stored["content_chars"] == 23
    assert (stored["id"], stored["command"], stored["rule"]) == ("p1", "ls", "write:**")
    store.close()
