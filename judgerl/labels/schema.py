"""The label store's tables, and the upgrade of files written by older judgerl versions.

Schema version 3 (version 2 had no ``in_flight`` table; version 1 had no
``run_queries`` and ``spending`` tables and no ``labels.requests`` /
``labels.run_id`` columns):

* ``segments``: content-addressed segment blobs (shared by every run);
* ``queries``: content-addressed queries with the iteration that *first*
  registered them, in any run (the legacy, run-less view);
* ``run_queries``: which run asked which query in which iteration -- queries
  belong to a run, so two runs sharing one store never see each other's
  queries; labels are still shared through the ``(judge_id, query_key)`` cache;
* ``labels``: every label row written, with the requests sent for it
  (``requests``) and the run that paid for it (``run_id``, NULL when unknown);
* ``spending``: requests that produced no label row (a calibration call,
  answers thrown away at a configuration stop), so budgets count everything sent;
* ``in_flight``: requests of a paid judge sent and not yet answered (a row is
  written before the request goes out and deleted with the label's commit): what
  a crash leaves there was paid for, and its answer is lost
  (:mod:`judgerl.labels.in_flight`).

Upgrading a version-1 file adds the new tables and columns in one
transaction; opening a version-2 file adds ``in_flight``. Old label rows get ``requests = 1 + retries`` (``2 + retries``
for a pair combined from both orders), the best estimate the stored rows allow:
the content-free calibration calls of old runs were never recorded.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    key TEXT PRIMARY KEY, blob BLOB NOT NULL, length INT NOT NULL, episode_id TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS queries (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, segment_keys TEXT NOT NULL, iteration INT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queries_iteration ON queries (iteration);
CREATE TABLE IF NOT EXISTS run_queries (
    run_id TEXT NOT NULL, query_key TEXT NOT NULL, iteration INT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (run_id, query_key)
);
CREATE INDEX IF NOT EXISTS run_queries_iteration ON run_queries (run_id, iteration);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY, judge_id TEXT NOT NULL, query_key TEXT NOT NULL, status TEXT NOT NULL,
    preference REAL, value REAL, model TEXT NOT NULL, prompt_sha TEXT NOT NULL, raw_response TEXT NOT NULL,
    swapped INT NOT NULL, tokens_in INT NOT NULL, tokens_out INT NOT NULL, cost_usd REAL NOT NULL,
    latency_s REAL NOT NULL, timestamp REAL NOT NULL, is_oracle INT NOT NULL, retries INT NOT NULL,
    error TEXT NOT NULL, transient INT NOT NULL, created REAL NOT NULL,
    requests INT NOT NULL DEFAULT 0, run_id TEXT
);
CREATE INDEX IF NOT EXISTS labels_judge_query ON labels (judge_id, query_key);
CREATE TABLE IF NOT EXISTS spending (
    id INTEGER PRIMARY KEY, judge_id TEXT NOT NULL, run_id TEXT, purpose TEXT NOT NULL, requests INT NOT NULL,
    tokens_in INT NOT NULL, tokens_out INT NOT NULL, cost_usd REAL NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS spending_judge ON spending (judge_id, run_id);
CREATE TABLE IF NOT EXISTS in_flight (
    judge_id TEXT NOT NULL, query_key TEXT NOT NULL, run_id TEXT, sent REAL NOT NULL, pid INT NOT NULL,
    PRIMARY KEY (judge_id, query_key)
);
"""


class LabelStoreError(RuntimeError):
    """The file cannot be used as a label store (not SQLite, foreign, or too new)."""


def _upgrade_v1(c: sqlite3.Connection) -> None:
    """Add version 2's label columns to a version-1 ``labels`` table (the new tables come from ``SCHEMA``)."""
    cols = {r[1] for r in c.execute("PRAGMA table_info(labels)")}
    if "requests" not in cols:
        c.execute("ALTER TABLE labels ADD COLUMN requests INT NOT NULL DEFAULT 0")
        # one request per row plus its retries; a pair combined from both orders was two
        c.execute(
            "UPDATE labels SET requests = retries + CASE WHEN judge_id LIKE 'both_orders-%' "
            "AND raw_response LIKE '[A,B]%' THEN 2 ELSE 1 END"
        )
    if "run_id" not in cols:
        c.execute("ALTER TABLE labels ADD COLUMN run_id TEXT")


def ensure_schema(c: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new store, or check and upgrade an existing one, inside the open transaction.

    Args:
        c: A connection inside a write transaction (``BEGIN IMMEDIATE``), so
            two processes opening an old file never upgrade it twice.
        path: The file, for messages.

    Raises:
        LabelStoreError: The file holds another program's tables, or was
            written by a newer judgerl.
    """
    tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" not in tables and tables:
        raise LabelStoreError(f"{path} holds tables {sorted(tables)} but is not a judgerl label store")
    version = SCHEMA_VERSION
    if "meta" in tables:
        row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise LabelStoreError(
                f"{path} has label-store schema version {version}, this judgerl reads up to "
                f"{SCHEMA_VERSION}: upgrade judgerl (pip install -U judgerl) to open it"
            )
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            c.execute(stmt)
    if version < 2:
        _upgrade_v1(c)
    c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created', ?)", (repr(time.time()),))


def claim_unowned_rows(c: sqlite3.Connection, run_id: str) -> int:
    """Give ``run_id`` the queries, label rows and spending rows of no run (see ``LabelStore.claim_unowned``).

    Args:
        c: A connection inside a write transaction.
        run_id: The run that owns the store.

    Returns:
        The number of queries claimed.
    """
    n = c.execute(
        """INSERT OR IGNORE INTO run_queries (run_id, query_key, iteration, created)
           SELECT ?, key, iteration, created FROM queries
           WHERE key NOT IN (SELECT query_key FROM run_queries) ORDER BY rowid""",
        (run_id,),
    ).rowcount
    c.execute("UPDATE labels SET run_id = ? WHERE run_id IS NULL", (run_id,))
    c.execute("UPDATE spending SET run_id = ? WHERE run_id IS NULL", (run_id,))
    return int(n)
