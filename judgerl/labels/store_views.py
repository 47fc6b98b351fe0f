"""The label store's SQL reads (aggregates, run-scoped views, lookups by key) over a ``read`` function.

Split from ``store.py`` (connection, writes, decoding), which wraps these
in :class:`~judgerl.labels.store.LabelStore` methods. With ``run_id=None``
every function keeps the legacy, run-less view (all queries of all runs);
with a ``run_id`` only that run's queries (``run_queries``) count.

Spending is what was *sent*: the ``requests``, tokens and cost of every label
row plus those of the ``spending`` table (calls that produced no label row).
With a ``run_id`` the sums cover what that run paid for (rows it wrote), while
``labels/usable`` and ``labels/queries`` cover its own queries, whoever bought
their labels (runs share labels through the cache).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

Read = Callable[[str, Iterable[Any]], list[sqlite3.Row]]
_CHUNK = 500  # keys per IN (...) clause, well under SQLite's bound-parameter limit


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def existing_keys(read: Read, table: str, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` have a row in ``table`` (``segments`` or ``queries``)."""
    out: set[str] = set()
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in read(f"SELECT key FROM {table} WHERE key IN ({marks})", chunk))
    return out


def reusable_label_rows(read: Read, judge_id: str, query_keys: Sequence[str]) -> list[sqlite3.Row]:
    """The non-transient label rows of ``judge_id`` for ``query_keys``, oldest first (the latest per key wins)."""
    rows: list[sqlite3.Row] = []
    for chunk in _chunks(query_keys):
        marks = ",".join("?" * len(chunk))
        rows += read(
            f"SELECT * FROM labels WHERE judge_id = ? AND transient = 0 AND query_key IN ({marks}) ORDER BY id",
            (judge_id, *chunk),
        )
    return rows


def _filters(judge_id: str | None, run_id: str | None) -> tuple[str, tuple[Any, ...]]:
    """``AND ...`` conditions on ``judge_id`` / ``run_id`` columns, and their parameters."""
    conds, params = [], []
    if judge_id is not None:
        conds.append("judge_id = ?")
        params.append(judge_id)
    if run_id is not None:
        conds.append("run_id = ?")
        params.append(run_id)
    return "".join(f" AND {c}" for c in conds), tuple(params)


def label_stats(read: Read, judge_id: str | None = None, run_id: str | None = None) -> dict[str, float]:
    """Counts and spending over the label rows and unlabelled requests (see ``LabelStore.stats``).

    Args:
        read: Runs one SELECT and returns its rows.
        judge_id: Restrict to one judge; ``None`` sums over all judges.
        run_id: Restrict to one run; ``None`` covers every run (and rows of no run).

    Returns:
        ``labels/total`` rows written; ``labels/ok``, ``labels/abstain``,
        ``labels/failed`` rows by status; ``labels/transient`` failed rows that
        will be re-asked; ``labels/usable`` effective ok labels (what
        ``LabelStore.labelled`` returns); ``labels/queries`` registered queries
        (all judges); ``judge/requests`` HTTP requests sent (label rows plus
        unlabelled requests), ``judge/unlabelled_requests`` the part with no
        label row (calibration); ``judge/cost_usd`` dollars,
        ``judge/tokens_in``, ``judge/tokens_out`` (both parts) and
        ``judge/retries`` sums; ``judge/latency_s_mean`` mean seconds per label
        row (0 when there is none).
    """
    cond, params = _filters(judge_id, run_id)
    r = read(
        f"""SELECT COUNT(*), TOTAL(status = 'ok'), TOTAL(status = 'abstain'), TOTAL(status = 'failed'),
            TOTAL(transient), TOTAL(cost_usd), TOTAL(tokens_in), TOTAL(tokens_out), TOTAL(retries),
            COALESCE(AVG(latency_s), 0.0), TOTAL(requests) FROM labels WHERE 1 = 1 {cond}""",
        params,
    )[0]
    spent = read(
        f"""SELECT TOTAL(requests), TOTAL(tokens_in), TOTAL(tokens_out), TOTAL(cost_usd)
            FROM spending WHERE 1 = 1 {cond}""",
        params,
    )[0]
    judge_cond, judge_params = _filters(judge_id, None)
    own_params: tuple[str, ...] = ()
    if run_id is None:
        owned = "JOIN queries q ON q.key = l.query_key"
        n_queries = read("SELECT COUNT(*) FROM queries", ())[0][0]
    else:
        owned, own_params = "JOIN run_queries q ON q.query_key = l.query_key AND q.run_id = ?", (run_id,)
        n_queries = read("SELECT COUNT(*) FROM run_queries WHERE run_id = ?", (run_id,))[0][0]
    usable = read(
        f"""SELECT COUNT(*) FROM labels l JOIN
            (SELECT MAX(id) AS id FROM labels WHERE transient = 0 {judge_cond} GROUP BY judge_id, query_key) eff
            ON l.id = eff.id {owned} WHERE l.status = 'ok'""",
        (*judge_params, *own_params),
    )[0][0]
    keys = ("total", "ok", "abstain", "failed", "transient")
    out = {f"labels/{k}": float(v) for k, v in zip(keys, r[:5], strict=True)}
    out["labels/usable"] = float(usable)
    out["labels/queries"] = float(n_queries)
    out["judge/cost_usd"] = float(r[5]) + float(spent[3])
    out["judge/tokens_in"] = float(r[6]) + float(spent[1])
    out["judge/tokens_out"] = float(r[7]) + float(spent[2])
    out["judge/retries"] = float(r[8])
    out["judge/latency_s_mean"] = float(r[9])
    out["judge/requests"] = float(r[10]) + float(spent[0])
    out["judge/unlabelled_requests"] = float(spent[0])
    return out


def iteration_query_rows(read: Read, iteration: int, run_id: str | None) -> list[sqlite3.Row]:
    """``(kind, segment_keys)`` rows of the queries registered for ``iteration``, in registration order.

    Args:
        read: Runs one SELECT.
        iteration: The outer-loop iteration.
        run_id: Only this run's queries; ``None``: by the iteration each query
            was first registered in, in any run.

    Returns:
        The rows.
    """
    if run_id is None:
        return read("SELECT kind, segment_keys FROM queries WHERE iteration = ? ORDER BY rowid", (iteration,))
    return read(
        """SELECT q.kind, q.segment_keys FROM run_queries r JOIN queries q ON q.key = r.query_key
           WHERE r.run_id = ? AND r.iteration = ? ORDER BY r.rowid""",
        (run_id, iteration),
    )


def max_iteration(read: Read, run_id: str | None) -> int | None:
    """Highest iteration with registered queries (of ``run_id``, or of any run), ``None`` when none."""
    if run_id is None:
        row = read("SELECT MAX(iteration) FROM queries", ())[0]
    else:
        row = read("SELECT MAX(iteration) FROM run_queries WHERE run_id = ?", (run_id,))[0]
    return None if row[0] is None else int(row[0])


def labelled_rows(
    read: Read, judge_id: str | None, statuses: Sequence[str], min_iteration: int | None, run_id: str | None
) -> list[sqlite3.Row]:
    """Effective label rows with ``q_kind`` / ``q_segment_keys`` of their queries (``LabelStore.labelled``).

    Args:
        read: Runs one SELECT.
        judge_id: One judge, or ``None`` for all.
        statuses: Statuses to keep (empty: no rows).
        min_iteration: Keep queries registered in this iteration or later (per run with ``run_id``).
        run_id: Only labels of this run's queries, whoever bought them; ``None``: any registered query.

    Returns:
        Rows ordered by label id.
    """
    if not statuses:
        return []
    where, params = "transient = 0", []
    if judge_id is not None:
        where, params = where + " AND judge_id = ?", [judge_id]
    marks = ",".join("?" * len(statuses))
    it_col = "q.iteration" if run_id is None else "r.iteration"
    it_filter, it_params = (f"AND {it_col} >= ?", [min_iteration]) if min_iteration is not None else ("", [])
    run_join, run_params = "", []
    if run_id is not None:
        run_join, run_params = "JOIN run_queries r ON r.query_key = l.query_key AND r.run_id = ?", [run_id]
    return read(
        f"""WITH eff AS (SELECT MAX(id) AS id FROM labels WHERE {where} GROUP BY judge_id, query_key)
            SELECT l.*, q.kind AS q_kind, q.segment_keys AS q_segment_keys
            FROM labels l JOIN eff ON l.id = eff.id JOIN queries q ON q.key = l.query_key {run_join}
            WHERE l.status IN ({marks}) {it_filter} ORDER BY l.id""",
        (*params, *run_params, *statuses, *it_params),
    )


def unanswered_query_rows(read: Read, judge_id: str, run_id: str, min_iteration: int = 0) -> list[sqlite3.Row]:
    """``(kind, segment_keys)`` of ``run_id``'s queries that ``judge_id`` has no definitive label for yet.

    A query whose only label rows are transient failures (timeouts, server
    errors after retries) is one of them: asking it again may succeed.
    """
    return read(
        """SELECT q.kind, q.segment_keys FROM run_queries r JOIN queries q ON q.key = r.query_key
           WHERE r.run_id = ? AND r.iteration >= ? AND NOT EXISTS (
               SELECT 1 FROM labels l WHERE l.query_key = r.query_key AND l.judge_id = ? AND l.transient = 0)
           ORDER BY r.rowid""",
        (run_id, min_iteration, judge_id),
    )
