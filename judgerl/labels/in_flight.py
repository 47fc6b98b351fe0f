"""Requests in flight: a paid judge's request is recorded before it is sent, so a crash cannot hide it.

A chat judge (:class:`~judgerl.judges.llm.ChatJudge`) reports each query just before its
first request goes out; :class:`~judgerl.labels.cached.CachedJudge` commits an
``in_flight`` row for it and the label's commit deletes the row in the same
transaction. A row that outlives the call that wrote it marks an answer that was
paid for and lost: the process was killed (kill -9, OOM, power), or the judge
worker died, while the request was in the air. The next time the query is to be
asked (the resumed run, the restarted worker), ``labels.in_flight_lost`` decides:

* ``skip`` (default): the query gets a definitive ``failed`` label saying why,
  counted with one request against the judge's budget and never asked again, so a
  crash can never make a run pay more requests than its budget;
* ``reask``: the row is dropped and the query asked again (the answer is bought
  twice: one more label for one more request).

A request refused before it reached the server (a configuration error) deletes its
row without a label; a transient failure (timeout, server down) stores an audit row,
which deletes it too. Free judges (oracle, scripted, local models) send no
requests and write no rows.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

LOST_ERROR = (
    "answer lost: its request was in flight when the run or its judge worker died; paid for and, with "
    "labels.in_flight_lost: skip, not asked again"
)
"""The error text of the ``failed`` label that stands for a lost answer."""

_CHUNK = 500


def mark(c: sqlite3.Connection, judge_id: str, query_key: str, run_id: str | None) -> None:
    """Insert (or refresh) the row of ``query_key``'s request, inside the caller's write transaction."""
    c.execute(
        "INSERT OR REPLACE INTO in_flight (judge_id, query_key, run_id, sent, pid) VALUES (?, ?, ?, ?, ?)",
        (judge_id, query_key, run_id, time.time(), os.getpid()),
    )


def clear(c: sqlite3.Connection, judge_id: str, query_keys: Sequence[str]) -> None:
    """Delete the rows of ``query_keys``, inside the caller's write transaction."""
    for i in range(0, len(query_keys), _CHUNK):
        chunk = query_keys[i : i + _CHUNK]
        c.execute(
            f"DELETE FROM in_flight WHERE judge_id = ? AND query_key IN ({','.join('?' * len(chunk))})",
            (judge_id, *chunk),
        )


def marked(
    read: Callable[[str, Iterable[Any]], list[sqlite3.Row]], judge_id: str, query_keys: Sequence[str]
) -> dict[str, int]:
    """``{query_key: pid}`` for the keys with a row (a request sent, nothing stored since) and the sender's pid."""
    out: dict[str, int] = {}
    keys = list(dict.fromkeys(query_keys))
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        rows = read(
            f"SELECT query_key, pid FROM in_flight WHERE judge_id = ? AND query_key IN ({','.join('?' * len(chunk))})",
            (judge_id, *chunk),
        )
        out.update((r["query_key"], int(r["pid"])) for r in rows)
    return out


def lost(rows: dict[str, int], asking: set[str]) -> list[str]:
    """The keys of ``rows`` whose request is no longer in the air anywhere: not one of this process's calls
    under way (``asking``), and sent by this process or by one that has died (another live process, e.g. a
    second run sharing the store, may still be waiting for its answer)."""
    me = os.getpid()
    return [k for k, pid in rows.items() if k not in asking and (pid == me or not _alive(pid))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
