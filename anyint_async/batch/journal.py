"""The batch journal: what was about to be created, what was created, what finished.

SQLite (standard library) in the output folder, one row per key. The order of writes is what
makes a crash safe: the *intent* to create is committed before the create request leaves, and
the task id right after the answer. A re-run then knows, for every key, whether it is done, has
a task to poll again, or was interrupted mid-create (and must be looked up, not repeated).

WAL mode with ``synchronous=NORMAL``: each commit survives the process being killed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from attrs import frozen

from ..billing import usage_from_json, usage_to_json
from ..models import Task, TaskError, TaskRoute, TaskStatus, TaskUsage

__all__ = ["JOURNAL_NAME", "JobRecord", "Journal", "Phase"]

JOURNAL_NAME = "journal.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    route TEXT NOT NULL,
    params TEXT NOT NULL,
    phase TEXT NOT NULL,
    task_id TEXT,
    task_route TEXT,
    model TEXT,
    status TEXT,
    error_code TEXT,
    error_message TEXT,
    urls TEXT,
    files TEXT,
    note TEXT,
    intent_at REAL,
    created_at REAL,
    finished_at REAL,
    done_at REAL,
    external_id TEXT,
    usage TEXT
)
"""
# Columns added after the first journals were written: an older journal gains them on open.
_LATER_COLUMNS = ("external_id", "usage")
_META_SCHEMA = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"


class Phase(StrEnum):
    """Where a job stands. ``QUEUED``: not started (never stored); ``CREATING``: the intent is
    recorded and the create may be in flight; ``CREATED``: the task id is known; ``FINISHED``:
    the task is terminal, files not yet saved; ``DONE``: nothing more to do."""

    QUEUED = "queued"
    CREATING = "creating"
    CREATED = "created"
    FINISHED = "finished"
    DONE = "done"


@frozen
class JobRecord:
    """One key's row in the journal."""

    key: str
    position: int
    route: str
    params: str
    phase: Phase
    task_id: str | None = None
    task_route: TaskRoute | None = None
    model: str | None = None
    status: TaskStatus | None = None
    error: TaskError | None = None
    urls: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    note: str | None = None
    intent_at: float | None = None
    created_at: float | None = None
    finished_at: float | None = None
    done_at: float | None = None
    external_id: str | None = None
    usage: TaskUsage | None = None

    @property
    def saved(self) -> bool:
        """True once the job's files (if any) are on disk and nothing is left to do."""
        return self.phase is Phase.DONE

    def task(self) -> Task | None:
        """The task to poll again, as a PENDING snapshot (a query brings the real state)."""
        if self.task_id is None or self.task_route is None:
            return None
        return Task(
            id=self.task_id, status=TaskStatus.PENDING, route=self.task_route, model=self.model
        )


class Journal:
    """A batch's durable record; every write is committed before it returns."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / JOURNAL_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._db.execute(_META_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for column in _LATER_COLUMNS:
            if column not in columns:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT")

    def token(self, make: Callable[[], str]) -> str:
        """This folder's batch token, made (by ``make``) and committed the first time."""
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES ('token', ?) ON CONFLICT(name) DO NOTHING",
            (make(),),
        )
        row = self._db.execute("SELECT value FROM meta WHERE name = 'token'").fetchone()
        return str(row[0])

    def close(self) -> None:
        self._db.close()

    def records(self) -> list[JobRecord]:
        """Every job, in the order the batch listed them."""
        rows = self._db.execute("SELECT * FROM jobs ORDER BY position").fetchall()
        names = [c[0] for c in self._db.execute("SELECT * FROM jobs LIMIT 0").description]
        return [_record(dict(zip(names, row, strict=True))) for row in rows]

    def get(self, key: str) -> JobRecord | None:
        cursor = self._db.execute("SELECT * FROM jobs WHERE key = ?", (key,))
        row = cursor.fetchone()
        if row is None:
            return None
        names = [c[0] for c in cursor.description]
        return _record(dict(zip(names, row, strict=True)))

    def intend(
        self, key: str, position: int, route: str, params: str, external_id: str | None = None
    ) -> None:
        """Commit the intent to create, before the create request is sent, with the external
        id the create carries (what a later run looks the task up by)."""
        self._db.execute(
            "INSERT INTO jobs (key, position, route, params, phase, intent_at, external_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET phase = excluded.phase, "
            "intent_at = excluded.intent_at, external_id = excluded.external_id",
            (key, position, route, params, Phase.CREATING, time.time(), external_id),
        )

    def created(self, key: str, task: Task) -> None:
        """Commit the task id, right after the create answered."""
        self._update(
            key,
            phase=Phase.CREATED,
            task_id=task.id,
            task_route=task.route.value,
            model=task.model,
            status=task.status.value,
            created_at=time.time(),
        )

    def finished(
        self,
        key: str,
        status: TaskStatus,
        urls: Sequence[str] = (),
        usage: TaskUsage | None = None,
    ) -> None:
        """Commit a successful end whose files are not saved yet, with the URLs to fetch and
        what the provider reported it made."""
        self._update(
            key,
            phase=Phase.FINISHED,
            status=status.value,
            urls=json.dumps(list(urls)),
            finished_at=time.time(),
        )
        self._keep_usage(key, usage)

    def not_saved(self, key: str, error: TaskError, note: str) -> None:
        """Commit why a finished job's files are not on disk; it stays FINISHED, so the next
        run saves them (polling the task again for fresh URLs) without creating anything."""
        self._update(key, error_code=error.code, error_message=error.message, note=note)

    def done(
        self,
        key: str,
        *,
        status: TaskStatus,
        files: Iterable[str] = (),
        error: TaskError | None = None,
        note: str | None = None,
        usage: TaskUsage | None = None,
    ) -> None:
        """Commit the end of a job (``usage``, when given, replaces what was kept)."""
        now = time.time()
        self._keep_usage(key, usage)
        self._update(
            key,
            phase=Phase.DONE,
            status=status.value,
            files=json.dumps(list(files)),
            error_code=error.code if error else None,
            error_message=error.message if error else None,
            note=note,
            done_at=now,
        )
        self._db.execute(
            "UPDATE jobs SET finished_at = COALESCE(finished_at, ?) WHERE key = ?", (now, key)
        )

    def _keep_usage(self, key: str, usage: TaskUsage | None) -> None:
        # Only a usage that was reported is written: a later step that knows none (saving
        # files) must not erase the one the task's end brought.
        if usage is not None:
            self._update(key, usage=json.dumps(usage_to_json(usage)))

    def _update(self, key: str, **values: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in values)
        self._db.execute(f"UPDATE jobs SET {columns} WHERE key = ?", (*values.values(), key))  # noqa: S608 - column names are ours


def _record(row: dict[str, Any]) -> JobRecord:
    error = None
    if row["error_code"] is not None or row["error_message"] is not None:
        error = TaskError(code=row["error_code"], message=row["error_message"])
    return JobRecord(
        key=row["key"],
        position=row["position"],
        route=row["route"],
        params=row["params"],
        phase=Phase(row["phase"]),
        task_id=row["task_id"],
        task_route=TaskRoute(row["task_route"]) if row["task_route"] else None,
        model=row["model"],
        status=TaskStatus(row["status"]) if row["status"] else None,
        error=error,
        urls=tuple(json.loads(row["urls"])) if row["urls"] else (),
        files=tuple(json.loads(row["files"])) if row["files"] else (),
        note=row["note"],
        intent_at=row["intent_at"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        done_at=row["done_at"],
        external_id=row.get("external_id"),
        usage=usage_from_json(json.loads(row["usage"])) if row.get("usage") else None,
    )
