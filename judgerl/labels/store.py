"""The label store: every query asked and every label bought, in one SQLite file.

The store is what makes a run resumable and a judge never paid twice:

* ``segments`` holds each segment a judge was shown (arrays, captions, frames,
  ground truth) as a pickle-free ``.npz`` blob, so labels can be reused by
  another run or fitted offline without the original rollouts;
* ``queries`` registers each query *before* it is judged, with the iteration that
  asked it, so a resumed run asks the same pending queries instead of new ones;
  with a ``run_id`` the registration is the run's own (``run_queries``): runs
  sharing one store never see each other's queries, only each other's labels;
* ``labels`` keeps every label row ever written -- failed, abstained and
  transient ones included -- as an audit trail with full provenance (model,
  prompt sha, raw response, requests, tokens, cost, latency) and the run that
  paid for it;
* ``spending`` records requests that produced no label row (calibration), so
  budgets carried over from the store count every request sent;
* ``in_flight`` holds a paid request from just before it is sent until its label
  is committed (:mod:`judgerl.labels.in_flight`).

Tables and upgrades of older files: :mod:`judgerl.labels.schema`.

Cache key: a label is looked up by ``(judge_id, Query.key)``. ``Judge.id`` hashes
the model, the prompt template sha and the sampling parameters; ``Query.key``
hashes the query kind and everything the judge can see (arrays, captions, frame
bytes). Together the effective key is hash(model, prompt sha, rendered prompt
inputs, media bytes, sampling params). The label used for a key is the latest
*non-transient* row: transient failures (timeouts, server errors, budget stops)
are re-asked, while definitive answers -- including a ``failed`` parse error with
its raw text -- are reused and never paid for again.

Durability and concurrency (docs/labels.md): WAL, one committed transaction a label
(survives SIGKILL; ``fsync=True`` also an OS crash), one writer at a time (``BEGIN
IMMEDIATE``, waiting up to ``busy_timeout_s``).
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

from judgerl.faults import kill_point
from judgerl.judges.base import Spending
from judgerl.labels import in_flight
from judgerl.labels.codec import LABEL_COLUMNS, decode_segment, encode_segment, label_from_row, label_to_row
from judgerl.labels.schema import SCHEMA_VERSION, LabelStoreError, claim_unowned_rows, ensure_schema
from judgerl.labels.store_views import (
    existing_keys,
    iteration_query_rows,
    label_stats,
    labelled_rows,
    max_iteration,
    reusable_label_rows,
    unanswered_query_rows,
)
from judgerl.types import Label, Query, Segment

__all__ = ["SCHEMA_VERSION", "LabelStore", "LabelStoreError"]

_STATUSES = ("ok", "abstain", "failed")


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
            ensure_schema(c, self.path)

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

    def add_queries(self, queries: Sequence[Query], iteration: int, run_id: str | None = None) -> None:
        """Register queries (and their segments) before they are judged; idempotent.

        A query already stored keeps the iteration it was first registered in
        (per run when ``run_id`` is given); segments already stored are not
        re-encoded. Everything is written in one transaction, so a crash never
        leaves a query without its segments.

        Args:
            queries: Queries in the order they will be asked.
            iteration: Outer-loop iteration that asked them (0-based).
            run_id: The run asking them; its queries are found again only by
                calls given the same ``run_id``. ``None``: run-less (legacy).
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
        run_rows = [(run_id, k, int(iteration), now) for k in dict.fromkeys(q.key for q in queries)]
        with self._write() as c:
            c.executemany(
                "INSERT OR IGNORE INTO segments (key, blob, length, episode_id, created) VALUES (?, ?, ?, ?, ?)",
                seg_rows,
            )
            c.executemany(
                "INSERT OR IGNORE INTO queries (key, kind, segment_keys, iteration, created) VALUES (?, ?, ?, ?, ?)",
                query_rows,
            )
            if run_id is not None:
                c.executemany(
                    "INSERT OR IGNORE INTO run_queries (run_id, query_key, iteration, created) VALUES (?, ?, ?, ?)",
                    run_rows,
                )
        kill_point("queries")

    def _existing(self, table: str, keys: Sequence[str]) -> set[str]:
        return existing_keys(self._read, table, keys)

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

    def queries_for_iteration(self, iteration: int, run_id: str | None = None) -> list[Query]:
        """All queries registered for an iteration, in registration order.

        Args:
            iteration: The outer-loop iteration.
            run_id: Only this run's queries; ``None``: every run's (legacy,
                by the iteration each query was first registered in).
        """
        memo: dict[str, Segment] = {}
        rows = iteration_query_rows(self._read, iteration, run_id)
        return [self._query_from(r["kind"], r["segment_keys"], memo) for r in rows]

    def last_iteration(self, run_id: str | None = None) -> int | None:
        """Highest iteration with registered queries, or ``None`` when there are none (resume point).

        Args:
            run_id: Only this run's queries; ``None``: every run's (legacy).
        """
        return max_iteration(self._read, run_id)

    def claim_unowned(self, run_id: str) -> int:
        """Give ``run_id`` every query, label row and spending row that belongs to no run.

        For a store private to one run that was written without run ids (by
        judgerl before schema version 2, or by a caller passing none): after
        this, run-scoped calls see that history. Never call it on a store that
        several runs share -- run-less rows cannot be told apart there.

        Args:
            run_id: The run that owns the store.

        Returns:
            The number of queries claimed.
        """
        with self._write() as c:
            return claim_unowned_rows(c, run_id)

    # -- labels --------------------------------------------------------------------

    def put_label(self, judge_id: str, label: Label, run_id: str | None = None) -> None:
        """Append one label row in its own committed transaction.

        When this returns the label is durable: a SIGKILL right after loses
        nothing. Failed, abstained and transient labels are stored too.

        Args:
            judge_id: ``Judge.id`` of the judge that produced it; must equal
                ``label.provenance.judge_id`` (the cache is keyed by it).
            label: The label.
            run_id: The run that paid for it (its budget counts the row).

        Raises:
            ValueError: On a judge id mismatch or an unknown status.
        """
        if label.provenance.judge_id != judge_id:
            raise ValueError(
                f"label provenance names judge {label.provenance.judge_id!r} but was stored for {judge_id!r}"
            )
        if label.status not in _STATUSES:
            raise ValueError(f"label status must be one of {_STATUSES}, got {label.status!r}")
        row = (*label_to_row(judge_id, label), time.time(), run_id)
        cols = ", ".join((*LABEL_COLUMNS, "created", "run_id"))
        with self._write() as c:
            c.execute(f"INSERT INTO labels ({cols}) VALUES ({', '.join('?' * len(row))})", row)
            in_flight.clear(c, judge_id, [label.query_key])  # answered (or failed): no longer in the air
        kill_point("label")

    def put_spending(self, judge_id: str, spending: Spending, run_id: str | None = None) -> None:
        """Record requests that produced no label row, in their own committed transaction.

        Args:
            judge_id: ``Judge.id`` whose budget they count against.
            spending: What was sent and billed (a calibration call, answers
                dropped when a run stopped).
            run_id: The run that paid for them.
        """
        s = spending
        row = (judge_id, run_id, s.purpose, int(s.requests), int(s.tokens_in), int(s.tokens_out), float(s.cost_usd))
        with self._write() as c:
            c.execute(
                """INSERT INTO spending (judge_id, run_id, purpose, requests, tokens_in, tokens_out, cost_usd, created)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (*row, time.time()),
            )

    def mark_in_flight(self, judge_id: str, query_key: str, run_id: str | None = None) -> None:
        """Commit that a paid request for ``query_key`` is about to be sent (:mod:`~judgerl.labels.in_flight`)."""
        with self._write() as c:
            in_flight.mark(c, judge_id, query_key, run_id)

    def clear_in_flight(self, judge_id: str, query_keys: Sequence[str]) -> None:
        """Forget the in-flight rows of ``query_keys`` (refused before sending, or to be asked again)."""
        with self._write() as c:
            in_flight.clear(c, judge_id, list(query_keys))

    def in_flight(self, judge_id: str, query_keys: Sequence[str]) -> dict[str, int]:
        """``{key: sender pid}`` for the ``query_keys`` with a request sent and nothing stored for it since."""
        return in_flight.marked(self._read, judge_id, query_keys)

    def cached(self, judge_id: str, query_keys: Sequence[str]) -> dict[str, Label]:
        """The label to reuse for each key: the latest non-transient row of this judge.

        Args:
            judge_id: ``Judge.id``.
            query_keys: ``Query.key`` values to look up.

        Returns:
            ``{query_key: label}`` for the keys that have a reusable label
            (status ``ok``, ``abstain`` or a definitive ``failed``).
        """
        rows = reusable_label_rows(self._read, judge_id, list(dict.fromkeys(query_keys)))
        return {r["query_key"]: label_from_row(r) for r in rows}  # ascending id: the latest row wins

    def unanswered(self, judge_id: str, run_id: str, min_iteration: int = 0) -> list[Query]:
        """``run_id``'s queries (from ``min_iteration`` on) with no definitive label from ``judge_id``.

        What a resumed or later iteration asks again: queries never answered, or
        answered only by transient failures. In registration order.
        """
        memo: dict[str, Segment] = {}
        rows = unanswered_query_rows(self._read, judge_id, run_id, min_iteration)
        return [self._query_from(r["kind"], r["segment_keys"], memo) for r in rows]

    def labelled(
        self,
        judge_id: str | None = None,
        statuses: Sequence[str] = ("ok",),
        min_iteration: int | None = None,
        run_id: str | None = None,
        memo: dict[str, Segment] | None = None,
    ) -> list[tuple[Query, Label]]:
        """The effective labels (see :meth:`cached`) with their queries, for reward fitting.

        Only labels whose query is registered are returned; one per
        ``(judge_id, query)``, so a query relabelled by the same judge counts once.

        Args:
            judge_id: Restrict to one judge; ``None`` returns every judge's labels.
            statuses: Which statuses to keep.
            min_iteration: Keep only queries registered in this iteration or later
                (the loop passes 0 to leave out preflight probes, iteration -1).
            run_id: Only labels of this run's queries (whichever run bought
                them: labels are shared through the cache), with the run's
                own iterations; ``None``: every registered query (legacy).
            memo: Segments already decoded, by ``Segment.key`` (filled with those decoded here): a
                caller that reads the labels again and again (the online refits) decodes each once.

        Returns:
            ``(query, label)`` pairs ordered by when the label was written.
        """
        rows = labelled_rows(self._read, judge_id, statuses, min_iteration, run_id)
        memo = {} if memo is None else memo
        return [(self._query_from(r["q_kind"], r["q_segment_keys"], memo), label_from_row(r)) for r in rows]

    def stats(self, judge_id: str | None = None, run_id: str | None = None) -> dict[str, float]:
        """Counts and spending over every label row written (the audit trail) and every unlabelled request.

        Args:
            judge_id: Restrict to one judge; ``None`` sums over all judges.
            run_id: Restrict rows and spending to what this run paid for, and
                ``labels/usable`` / ``labels/queries`` to its own queries;
                ``None`` covers every run.

        Returns:
            ``labels/total``, ``labels/ok|abstain|failed|transient``,
            ``labels/usable``, ``labels/queries``, ``judge/requests``,
            ``judge/unlabelled_requests``, ``judge/cost_usd``,
            ``judge/tokens_in|out``, ``judge/retries``, ``judge/latency_s_mean``
            (defined in :func:`~judgerl.labels.store_views.label_stats`).
        """
        return label_stats(self._read, judge_id, run_id)
