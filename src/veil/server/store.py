"""The job store: one SQLite file and three folders under the service's data directory.

    jobs.sqlite3        job rows (options, state, progress, times; never a file name)
    originals/<id>      an upload, kept only while its job is queued, running or in review
    results/<id>.*      the anonymized file, its plan and its report, until they expire
    tmp/                uploads being received; emptied at every start

The web process and the worker processes share it; SQLite's WAL mode and short
transactions let them, and `claim` hands each queued job to exactly one worker.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import VeilError

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,               -- image | video
    state TEXT NOT NULL,              -- queued | running | done | failed | expired
    task TEXT NOT NULL,               -- anonymize | render (an edited plan, no detection)
    options TEXT NOT NULL,            -- JSON: mask, shape, margin, audio...
    review INTEGER NOT NULL,          -- keep the original for plan edits until finished
    has_original INTEGER NOT NULL,
    key_id INTEGER,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    finished REAL,
    expires REAL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT,
    error TEXT,
    error_kind TEXT,                  -- input | internal | crash
    attempts INTEGER NOT NULL DEFAULT 0,
    worker INTEGER,
    result_ext TEXT,
    result_type TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created);
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    hash TEXT UNIQUE NOT NULL,        -- sha256 of the key; the key itself is never stored
    created REAL NOT NULL
);
"""

# A job interrupted by a stop of the service is tried once more, then failed.
MAX_ATTEMPTS = 2
ACTIVE = ("queued", "running")


@dataclass
class Job:
    id: str
    kind: str
    state: str
    task: str
    options: dict[str, Any]
    review: bool
    has_original: bool
    key_id: int | None
    created: float
    updated: float
    finished: float | None
    expires: float | None
    progress: float
    stage: str | None
    error: str | None
    error_kind: str | None
    attempts: int
    worker: int | None
    result_ext: str | None
    result_type: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["options"] = json.loads(data["options"])
        data["review"] = bool(data["review"])
        data["has_original"] = bool(data["has_original"])
        return cls(**data)

    def public(self) -> dict[str, Any]:
        """What GET /v1/jobs/{id} shows."""
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "task": self.task,
            "progress": round(self.progress, 3),
            "stage": self.stage,
            "error": self.error,
            "review": self.review,
            "original_kept": self.has_original,
            "options": self.options,
            "created": self.created,
            "finished": self.finished,
            "expires": self.expires,
        }


def hash_key(key: str) -> str:
    # Keys are 32 random bytes, so a plain hash cannot be reversed by guessing.
    return hashlib.sha256(key.encode()).hexdigest()


DATABASE = "jobs.sqlite3"


def _check_root(root: Path) -> None:
    """VeilError unless `root` is new, empty or a data folder veil made (it holds the
    database): at every start the store deletes each file in originals/, results/ and tmp/
    that no job owns, and `--data-dir ~/evidence` would have deleted ~/evidence/originals."""
    if root.exists() and not root.is_dir():
        raise VeilError(f"--data-dir {root}: that is a file, not a folder")
    if root.is_dir() and not (root / DATABASE).is_file() and any(root.iterdir()):
        raise VeilError(f"--data-dir {root}: that folder holds files veil did not put there, "
                        "and veil deletes what it does not own in its data folder; name a new "
                        "or empty one")


class Store:
    """Rows in SQLite, bytes in files. Every method opens its own short transaction."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        _check_root(self.root)
        self.originals = self.root / "originals"
        self.results = self.root / "results"
        self.tmp = self.root / "tmp"
        for folder in (self.root, self.originals, self.results, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o700)
        self.db = sqlite3.connect(
            self.root / DATABASE, timeout=30, isolation_level=None, check_same_thread=False
        )
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- paths -------------------------------------------------------------------------------

    def original_path(self, job_id: str) -> Path:
        return self.originals / job_id

    def result_path(self, job: Job) -> Path:
        return self.results / f"{job.id}.{job.result_ext}"

    def plan_path(self, job_id: str) -> Path:
        return self.results / f"{job_id}.plan.json"

    def report_path(self, job_id: str) -> Path:
        return self.results / f"{job_id}.report.json"

    def plan_next_path(self, job_id: str) -> Path:
        """An edited plan waiting to be rendered (the current plan stays until it is)."""
        return self.results / f"{job_id}.plan-next.json"

    # --- jobs --------------------------------------------------------------------------------

    def create(
        self,
        kind: str,
        options: dict[str, Any],
        upload: Path,
        review: bool,
        key_id: int | None,
    ) -> Job:
        """Move a received upload in as a job's original and queue the job."""
        job_id = secrets.token_urlsafe(16)
        upload.replace(self.original_path(job_id))
        now = time.time()
        self.db.execute(
            "INSERT INTO jobs (id, kind, state, task, options, review, has_original, key_id,"
            " created, updated) VALUES (?, ?, 'queued', 'anonymize', ?, ?, 1, ?, ?, ?)",
            (job_id, kind, json.dumps(options), int(review), key_id, now, now),
        )
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def count_active(self) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
        ).fetchone()
        return int(row[0])

    def claim(self, worker: int) -> Job | None:
        """Hand the oldest queued job to `worker`, atomically."""
        row = self.db.execute(
            "UPDATE jobs SET state = 'running', worker = ?, attempts = attempts + 1,"
            " progress = 0, stage = 'starting', updated = ?"
            " WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY created LIMIT 1)"
            " AND state = 'queued' RETURNING *",
            (worker, time.time()),
        ).fetchone()
        return Job.from_row(row) if row else None

    def set_progress(self, job_id: str, stage: str, progress: float) -> bool:
        """Record progress; False when the job no longer exists (it was deleted)."""
        cursor = self.db.execute(
            "UPDATE jobs SET stage = ?, progress = ?, updated = ? WHERE id = ?",
            (stage, progress, time.time(), job_id),
        )
        return cursor.rowcount > 0

    def finish(self, job: Job, result_ext: str, result_type: str, ttl: float) -> None:
        """Mark a job done; its original goes unless a person is still reviewing it."""
        now = time.time()
        self.db.execute(
            "UPDATE jobs SET state = 'done', progress = 1, stage = NULL, error = NULL,"
            " error_kind = NULL, finished = ?, updated = ?, expires = ?, result_ext = ?,"
            " result_type = ? WHERE id = ?",
            (now, now, now + ttl, result_ext, result_type, job.id),
        )
        if not job.review:
            self.drop_original(job.id)

    def fail(self, job_id: str, error: str, kind: str, ttl: float) -> None:
        """Mark a job failed (one-line reason) and delete its original and any result."""
        now = time.time()
        self.db.execute(
            "UPDATE jobs SET state = 'failed', stage = NULL, error = ?, error_kind = ?,"
            " finished = ?, updated = ?, expires = ? WHERE id = ?",
            (error.splitlines()[0][:500] if error else "failed", kind, now, now, now + ttl, job_id),
        )
        self.drop_original(job_id)
        self.drop_results(job_id)

    def fail_job(self, job: Job, error: str, kind: str, ttl: float) -> str:
        """Fail a job (see fail), except a review's re-render of an edited plan: that leaves
        the review its original and its last good result. Returns the outcome for the log."""
        if job.task == "render" and self.original_path(job.id).exists():
            self.plan_next_path(job.id).unlink(missing_ok=True)
            self.fail_render(job.id, f"the edited plan was not rendered: {error}")
            return f"re-render failed ({kind}); the review keeps its last result"
        self.fail(job.id, error, kind, ttl)
        return f"failed ({kind})"

    def fail_render(self, job_id: str, error: str) -> None:
        """A re-render failed: the job is done again with its last result, and says why."""
        self.db.execute(
            "UPDATE jobs SET state = 'done', progress = 1, stage = NULL, error = ?,"
            " error_kind = 'render', updated = ? WHERE id = ?",
            (error.splitlines()[0][:500], time.time(), job_id),
        )

    def requeue_for_render(self, job_id: str) -> None:
        self.db.execute(
            "UPDATE jobs SET state = 'queued', task = 'render', progress = 0, stage = NULL,"
            " error = NULL, updated = ?, attempts = 0 WHERE id = ?",
            (time.time(), job_id),
        )

    def drop_original(self, job_id: str) -> None:
        self.original_path(job_id).unlink(missing_ok=True)
        self.db.execute("UPDATE jobs SET has_original = 0 WHERE id = ?", (job_id,))

    def drop_results(self, job_id: str) -> None:
        for path in self.results.glob(f"{job_id}.*"):
            path.unlink(missing_ok=True)

    def delete(self, job_id: str) -> None:
        self.drop_original(job_id)
        self.drop_results(job_id)
        self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def running_on(self, worker: int) -> list[Job]:
        rows = self.db.execute(
            "SELECT * FROM jobs WHERE state = 'running' AND worker = ?", (worker,)
        ).fetchall()
        return [Job.from_row(r) for r in rows]

    # --- housekeeping ------------------------------------------------------------------------

    def recover(self, ttl: float) -> dict[str, int]:
        """At start, before any worker runs: requeue or fail interrupted jobs, then remove
        every file no live job owns (partial uploads, temporary outputs, stray originals)."""
        counts = {"requeued": 0, "failed": 0, "files_removed": 0}
        for row in self.db.execute("SELECT * FROM jobs WHERE state = 'running'").fetchall():
            job = Job.from_row(row)
            if job.attempts < MAX_ATTEMPTS and self.original_path(job.id).exists():
                self.db.execute(
                    "UPDATE jobs SET state = 'queued', worker = NULL, progress = 0,"
                    " stage = NULL WHERE id = ?",
                    (job.id,),
                )
                counts["requeued"] += 1
            else:
                self.fail(job.id, "the service stopped while this job ran", "internal", ttl)
                counts["failed"] += 1
        for row in self.db.execute(
            "SELECT id FROM jobs WHERE state = 'queued' AND has_original = 1"
        ).fetchall():
            if not self.original_path(row["id"]).exists():
                self.fail(row["id"], "the upload was lost before processing", "internal", ttl)
                counts["failed"] += 1
        live = {
            r["id"]: (r["state"], r["has_original"])
            for r in self.db.execute("SELECT id, state, has_original FROM jobs").fetchall()
        }
        for path in list(self.originals.iterdir()):
            state = live.get(path.name)
            if state is None or not state[1] or state[0] in ("failed", "expired"):
                path.unlink()
                counts["files_removed"] += 1
        for path in list(self.results.iterdir()):
            owner = live.get(path.name.split(".", 1)[0])
            if owner is None or owner[0] in ("failed", "expired") or path.name.startswith("."):
                path.unlink()
                counts["files_removed"] += 1
        for path in list(self.tmp.iterdir()):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            counts["files_removed"] += 1
        return counts

    def expire(self, review_ttl: float, now: float | None = None) -> int:
        """Delete results past their expiry and originals of reviews left open too long."""
        now = time.time() if now is None else now
        expired = self.db.execute(
            "SELECT id FROM jobs WHERE state IN ('done', 'failed') AND expires < ?", (now,)
        ).fetchall()
        for row in expired:
            self.drop_original(row["id"])
            self.drop_results(row["id"])
            self.db.execute(
                "UPDATE jobs SET state = 'expired', updated = ? WHERE id = ?", (now, row["id"])
            )
        stale = self.db.execute(
            "SELECT id FROM jobs WHERE has_original = 1 AND state IN ('done', 'failed')"
            " AND finished < ?",
            (now - review_ttl,),
        ).fetchall()
        for row in stale:
            self.drop_original(row["id"])
        return len(expired) + len(stale)

    # --- API keys ----------------------------------------------------------------------------

    def add_key(self, name: str) -> str:
        """Create a key, store its hash and return the key (shown once, never stored)."""
        key = "veil_" + secrets.token_urlsafe(32)
        try:
            self.db.execute(
                "INSERT INTO api_keys (name, hash, created) VALUES (?, ?, ?)",
                (name, hash_key(key), time.time()),
            )
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"a key named {name!r} exists already") from exc
        return key

    def remove_key(self, name: str) -> bool:
        return self.db.execute("DELETE FROM api_keys WHERE name = ?", (name,)).rowcount > 0

    def key_names(self) -> list[str]:
        return [r["name"] for r in self.db.execute("SELECT name FROM api_keys ORDER BY name")]

    def has_keys(self) -> bool:
        return self.db.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def key_id(self, key: str) -> int | None:
        row = self.db.execute("SELECT id FROM api_keys WHERE hash = ?", (hash_key(key),)).fetchone()
        return int(row["id"]) if row else None
