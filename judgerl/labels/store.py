"""The label store: every query asked and every label bought, in one SQLite file.

The store is what makes a run resumable and a judge never paid twice:

* ``segments`` holds each segment a judge was shown (arrays, captions, frames,
  ground truth) as a pickle-free ``.npz`` blob, so labels can be reused by
  another run or fitted offline without the original rollouts;
* ``queries`` registers each query *before* it is judged, with the iteration that
  asked it, so a resumed run asks the same pending queries instead of new ones;
* ``labels`` keeps every label row ever written -- failed, abstained and
  transient ones included -- as an audit trail with full provenance (model,
  prompt sha, raw response, tokens, cost, latency).

Cache key: a label is looked up by ``(judge_id, Query.key)``. ``Judge.id`` hashes
the model, the prompt template sha and the sampling parameters; ``Query.key``
hashes the query kind and everything the judge can see (arrays, captions, frame
bytes). Together the effective key is hash(model, prompt sha, rendered prompt
inputs, media bytes, sampling params). The label used for a key is the latest
*non-transient* row: transient failures (timeouts, server errors, budget stops)
are re-asked, while definitive answers -- including a ``failed`` parse error with
its raw text -- are reused and never paid for again.

Durability: the file is in WAL mode and each label is one committed
transaction. WAL with ``synchronous=NORMAL`` already survives SIGKILL (a
committed transaction is in the WAL file, in the OS page cache, and replayed on
the next open) and never corrupts the file. The default, ``fsync=True``, uses
``synchronous=FULL``: the WAL is fsynced at every commit, so an OS crash or a
power loss cannot drop labels that were paid for either. That costs 0.25-5 ms
per label on the shared 2-core target machine (NORMAL: under 0.1 ms), nothing
next to a model call; ``fsync=False`` suits free oracle judges that write many
thousands of labels. Several processes may open the same file: WAL allows
concurrent readers with one writer; writers take the lock up front
(``BEGIN IMMEDIATE``) and wait up to ``busy_timeout_s``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from judgerl.labels.codec import LABEL_COLUMNS, decode_segment, encode_segment, label_from_row, label_to_row
from judgerl.types import Label, Query, Segment

SCHEMA_VERSION = 1
_STATUSES = ("ok", "abstain", "failed")
_CHUNK = 500  # keys per IN (...) clause, well under SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    key TEXT PRIMARY KEY, blob BLOB NOT NULL, length INT NOT NULL, episode_id TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS queries (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, segment_keys TEXT NOT NULL, iteration INT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS queries_iteration ON queries (iteration);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY, judge_id TEXT NOT NULL, query_key TEXT NOT NULL, status TEXT NOT NULL,
    preference REAL, value REAL, model TEXT NOT NULL, prompt_sha TEXT NOT NULL, raw_response TEXT NOT NULL,
    swapped INT NOT NULL, tokens_in INT NOT NULL, tokens_out INT NOT NULL, cost_usd REAL NOT NULL,
    latency_s REAL NOT NULL, timestamp REAL NOT NULL, is_oracle INT NOT NULL, retries INT NOT NULL,
    error TEXT NOT NULL, transient INT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_judge_query ON labels (judge_id, query_key);
"""


class LabelStoreError(RuntimeError):
    """The file cannot be used as a label store (not SQLite, foreign, or too new)."""


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class LabelStore:
    """SQLite-backed store of segments, queries and labels (see the module docstring).

    Args:
        path: The database file; parent folders are created. ``":memory:"``
            gives a private in-memory store (tests).
        busy_timeout_s: How long a write waits for another process's write
            lock before failing, in seconds.
        fsync: ``True``: ``synchronous=FULL``, labels survive power loss;
            ``False``: ``synchronous=NORMAL``, labels survive process crashes
            (SIGKILL) only, with much cheaper commits.

    Raises:
        LabelStoreError: When ``path`` is not SQLite, holds another program's
            tables, or was written by a newer judgerl (unknown schema version).
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0, fsync: bool = True) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            # One connection, usable from judge callback threads; the lock serialises it.
            # isolation_level=None: transactions are explicit (see _write), nothing is implicit.
            self._conn = sqlite3.connect(
                str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            self._setup(busy_timeout_s, fsync)
        except sqlite3.DatabaseError as e:
            self.close()
            raise LabelStoreError(f"{path} is not a usable SQLite label store: {e}") from e
        except LabelStoreError:
            self.close()
            raise

    # -- lifecycle -----------------------------------------------------------------

    def _setup(self, busy_timeout_s: float, fsync: bool) -> None:
        conn = self._db
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if fsync else 'NORMAL'}")
        with self._write() as c:
            tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" not in tables and tables:
                raise LabelStoreError(f"{self.path} holds tables {sorted(tables)} but is not a judgerl label store")
            if "meta" in tables:
                row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise LabelStoreError(
                        f"{self.path} has label-store schema version {version}, this judgerl reads up to "
                        f"{SCHEMA_VERSION}: upgrade judgerl (pip install -U judgerl) to open it"
                    )
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created', ?)", (repr(time.time()),))

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LabelStoreError(f"label store {self.path} is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on exit (rolled back on error).

        ``BEGIN IMMEDIATE`` takes the write lock at the start: a deferred
        transaction that upgrades from read to write can fail with SQLITE_BUSY
        without waiting when another process writes at the same time.
        """
        with self._lock:
            conn = self._db
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        """Close the connection (idempotent); committed data is already on disk."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- queries and segments ------------------------------------------------------

    def add_queries(self, queries: Sequence[Query], iteration: int) -> None:
        """Register queries (and their segments) before they are judged; idempotent.

        A query already stored keeps the iteration it was first registered in;
        segments already stored are not re-encoded. Everything is written in one
        transaction, so a crash never leaves a query without its segments.

        Args:
            queries: Queries in the order they will be asked.
            iteration: Outer-loop iteration that asked them (0-based).
        """
        if not queries:
            return
        seg_by_key: dict[str, Segment] = {}
        for q in queries:
            for s in q.segments:
                seg_by_key.setdefault(s.key, s)
        known = self._existing("segments", list(seg_by_key))
        now = time.time()
        seg_rows = [
            (k, encode_segment(s), s.length, s.episode_id, now) for k, s in seg_by_key.items() if k not in known
        ]
        query_rows = [(q.key, q.kind, json.dumps([s.key for s in q.segments]), int(iteration), now) for q in queries]
        with self._write() as c:
            c.executemany(
                "INSERT OR IGNORE INTO segments (key, blob, length, episode_id, created) VALUES (?, ?, ?, ?, ?)",
                seg_rows,
            )
            c.executemany(
                "INSERT OR IGNORE INTO queries (key, kind, segment_keys, iteration, created) VALUES (?, ?, ?, ?, ?)",
                query_rows,
            )

    def _existing(self, table: str, keys: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            out.update(r[0] for r in self._read(f"SELECT key FROM {table} WHERE key IN ({marks})", chunk))
        return out

    def has_query(self, key: str) -> bool:
        """Whether a query with this ``Query.key`` is registered."""
        return bool(self._existing("queries", [key]))

    def get_segment(self, key: str) -> Segment:
        """Load one segment by ``Segment.key``.

        Raises:
            KeyError: When no such segment is stored.
        """
        rows = self._read("SELECT blob FROM segments WHERE key = ?", (key,))
        if not rows:
            raise KeyError(f"segment {key} is not in the label store {self.path}")
        return decode_segment(rows[0]["blob"])

    def _query_from(self, kind: str, segment_keys: str, memo: dict[str, Segment]) -> Query:
        segs = []
        for k in json.loads(segment_keys):
            if k not in memo:
                memo[k] = self.get_segment(k)
            segs.append(memo[k])
        return Query(kind=kind, segments=tuple(segs))  # type: ignore[arg-type]

    def get_query(self, key: str) -> Query:
        """Load one query, with its segments, by ``Query.key``.

        Raises:
            KeyError: When no such query is registered.
        """
        rows = self._read("SELECT kind, segment_keys FROM queries WHERE key = ?", (key,))
        if not rows:
            raise KeyError(f"query {key} is not in the label store {self.path}")
        return self._query_from(rows[0]["kind"], rows[0]["segment_keys"], {})

    def queries_for_iteration(self, iteration: int) -> list[Query]:
        """All queries registered for an iteration, in registration order."""
        memo: dict[str, Segment] = {}
        rows = self._read("SELECT kind, segment_keys FROM queries WHERE iteration = ? ORDER BY rowid", (iteration,))
        return [self._query_from(r["kind"], r["segment_keys"], memo) for r in rows]

    def last_iteration(self) -> int | None:
        """Highest iteration with registered queries, or ``None`` for an empty store (resume point)."""
        row = self._read("SELECT MAX(iteration) FROM queries")[0]
        return None if row[0] is None else int(row[0])

    # -- labels --------------------------------------------------------------------

    def put_label(self, judge_id: str, label: Label) -> None:
        """Append one label row in its own committed transaction.

        When this returns the label is durable: a SIGKILL right after loses
        nothing. Failed, abstained and transient labels are stored too.

        Args:
            judge_id: ``Judge.id`` of the judge that produced it; must equal
                ``label.provenance.judge_id`` (the cache is keyed by it).
            label: The label.

        Raises:
            ValueError: On a judge id mismatch or an unknown status.
        """
        if label.provenance.judge_id != judge_id:
            raise ValueError(
                f"label provenance names judge {label.provenance.judge_id!r} but was stored for {judge_id!r}"
            )
        if label.status not in _STATUSES:
            raise ValueError(f"label status must be one of {_STATUSES}, got {label.status!r}")
        row = (*label_to_row(judge_id, label), time.time())
        cols = ", ".join((*LABEL_COLUMNS, "created"))
        with self._write() as c:
            c.execute(f"INSERT INTO labels ({cols}) VALUES ({', '.join('?' * len(row))})", row)

    def cached(self, judge_id: str, query_keys: Sequence[str]) -> dict[str, Label]:
        """The label to reuse for each key: the latest non-transient row of this judge.

        Args:
            judge_id: ``Judge.id``.
            query_keys: ``Query.key`` values to look up.

        Returns:
            ``{query_key: label}`` for the keys that have a reusable label
            (status ``ok``, ``abstain`` or a definitive ``failed``).
        """
        out: dict[str, Label] = {}
        keys = list(dict.fromkeys(query_keys))
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                f"SELECT * FROM labels WHERE judge_id = ? AND transient = 0 AND query_key IN ({marks}) ORDER BY id",
                (judge_id, *chunk),
            )
            for r in rows:  # ascending id: the latest row wins
                out[r["query_key"]] = label_from_row(r)
        return out

    def labelled(
        self, judge_id: str | None = None, statuses: Sequence[str] = ("ok",), min_iteration: int | None = None
    ) -> list[tuple[Query, Label]]:
        """The effective labels (see :meth:`cached`) with their queries, for reward fitting.

        Only labels whose query is registered are returned; one per
        ``(judge_id, query)``, so a query relabelled by the same judge counts once.

        Args:
            judge_id: Restrict to one judge; ``None`` returns every judge's labels.
            statuses: Which statuses to keep.
            min_iteration: Keep only queries registered in this iteration or later
                (the loop passes 0 to leave out preflight probes, iteration -1).

        Returns:
            ``(query, label)`` pairs ordered by when the label was written.
        """
        if not statuses:
            return []
        where, params = "transient = 0", []
        if judge_id is not None:
            where, params = where + " AND judge_id = ?", [judge_id]
        marks = ",".join("?" * len(statuses))
        it_filter, it_params = ("AND q.iteration >= ?", [min_iteration]) if min_iteration is not None else ("", [])
        rows = self._read(
            f"""WITH eff AS (SELECT MAX(id) AS id FROM labels WHERE {where} GROUP BY judge_id, query_key)
                SELECT l.*, q.kind AS q_kind, q.segment_keys AS q_segment_keys
                FROM labels l JOIN eff ON l.id = eff.id JOIN queries q ON q.key = l.query_key
                WHERE l.status IN ({marks}) {it_filter} ORDER BY l.id""",
            (*params, *statuses, *it_params),
        )
        memo: dict[str, Segment] = {}
        return [(self._query_from(r["q_kind"], r["q_segment_keys"], memo), label_from_row(r)) for r in rows]

    def stats(self, judge_id: str | None = None) -> dict[str, float]:
        """Counts and spending over every label row written (the audit trail).

        Args:
            judge_id: Restrict to one judge; ``None`` sums over all judges.

        Returns:
            ``labels/total`` rows written; ``labels/ok``, ``labels/abstain``,
            ``labels/failed`` rows by status; ``labels/transient`` failed rows
            that will be re-asked; ``labels/usable`` effective ok labels (what
            :meth:`labelled` returns); ``labels/queries`` registered queries (all
            judges); ``judge/cost_usd`` dollars, ``judge/tokens_in``,
            ``judge/tokens_out``, ``judge/retries`` sums; ``judge/latency_s_mean``
            mean seconds per label row (0 when there is none).
        """
        where, params = ("WHERE judge_id = ?", (judge_id,)) if judge_id is not None else ("", ())
        r = self._read(
            f"""SELECT COUNT(*), TOTAL(status = 'ok'), TOTAL(status = 'abstain'), TOTAL(status = 'failed'),
                TOTAL(transient), TOTAL(cost_usd), TOTAL(tokens_in), TOTAL(tokens_out), TOTAL(retries),
                COALESCE(AVG(latency_s), 0.0) FROM labels {where}""",
            params,
        )[0]
        and_judge = "AND judge_id = ?" if judge_id is not None else ""
        usable = self._read(
            f"""SELECT COUNT(*) FROM labels l JOIN
                (SELECT MAX(id) AS id FROM labels WHERE transient = 0 {and_judge} GROUP BY judge_id, query_key) eff
                ON l.id = eff.id JOIN queries q ON q.key = l.query_key WHERE l.status = 'ok'""",
            params,
        )[0][0]
        n_queries = self._read("SELECT COUNT(*) FROM queries")[0][0]
        keys = ("total", "ok", "abstain", "failed", "transient")
        out = {f"labels/{k}": float(v) for k, v in zip(keys, r[:5], strict=True)}
        out["labels/usable"] = float(usable)
        out["labels/queries"] = float(n_queries)
        keys = ("cost_usd", "tokens_in", "tokens_out", "retries", "latency_s_mean")
        out.update({f"judge/{k}": float(v) for k, v in zip(keys, r[5:], strict=True)})
        return out
