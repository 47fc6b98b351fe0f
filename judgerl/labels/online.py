"""The online judge worker: a bounded queue of queries, labelled in a background thread (decision 0027).

The training thread *offers* queries (:meth:`OnlineLabeller.offer`) and never
waits: a full queue drops new items (``drop_new``) or the oldest queued ones
(``drop_old``), counted either way. A daemon thread takes batches from the queue
and labels them through :class:`~judgerl.labels.cached.CachedJudge`, i.e. the
run's label store and cache: each batch is registered before the judge sees it
and each label is committed the moment it arrives, exactly as in blocking mode.

Budget: ``total`` caps the run's registered queries (the ones handed to the
judge); once it is spent the worker takes nothing more and the agent trains on.
A judge exception is logged and counted, the batch retried after a back-off; a
:class:`~judgerl.judges.base.JudgeConfigError` (or the judge's own money budget,
reported as ``budget`` transient labels) ends labelling for the run, not the run.

Faults (decision 0029):

- A *transient* label (the server unreachable, timeouts, 5xx after the HTTP
  client's own retries) is stored as an audit row only -- never reused as an
  answer -- and the query is re-asked later in this run, ahead of new queries
  and without counting against the budget again, up to ``max_transient`` times
  (then it is left for a resumed run, ``labels/abandoned``). A batch that got
  nothing but transient labels pauses the worker (``backoff_s`` doubling up to
  ``max_pause_s``) so a server that is down is not hammered and no new queries
  are registered meanwhile; the agent never waits for any of it.
- The worker *dying* (anything escaping its loop, e.g. a ``BaseException``
  from the judge) is logged and counted (``labels/worker_deaths``); the batch
  it held goes back to the head of the re-ask queue (its stored labels come
  from the cache, free) and the loop restarts after a back-off, at most
  ``max_restarts`` times; after that labelling stops and the run trains on
  with the labels it has. Answers whose requests were in flight when it died
  are lost, as with kill -9, and bought again on the re-ask.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Literal

from judgerl.judges.base import JudgeConfigError
from judgerl.labels.cached import CachedJudge
from judgerl.types import Label, Query, TaskSpec

QueuePolicy = Literal["drop_new", "drop_old"]


class OnlineLabeller:
    """Labels offered queries in a background thread, within a budget, through the label store's cache.

    Args:
        judge: The run's cached judge (the store and its cache behind it).
        task: The task the queries are about.
        total: Label budget: queries this run may register, earlier starts' included.
        already: Queries the run registered before this start (a resume), counted against ``total``.
        retry: Registered queries without a definitive label (a resume): asked first, not counted again.
        capacity: Queue size (queries waiting for the judge).
        policy: What a full queue drops: ``drop_new`` or ``drop_old``.
        batch: Queries per judge call.
        backoff_s: Wait after a judge exception, or a batch of only transient labels, before trying
            again, in seconds (doubles per consecutive failure, at most ``max_pause_s``).
        max_attempts: Judge calls for one batch before it is given up (counted in ``labels/abandoned``).
        max_transient: Transient failures of one query before this start stops re-asking it.
        max_pause_s: Longest pause after failures, in seconds (short: labelling resumes soon after a
            server comes back; the HTTP client backs off on its own within each call).
        max_restarts: Restarts of a dead worker loop before labelling stops for the run.

    Attributes:
        iteration: Outer-loop iteration recorded for queries registered from now on (the loop sets it).
        labels: Definitive labels (``ok``, ``abstain``, ``failed``) committed by this start, one per query.
        usable: ``ok`` labels among them.
        transient: Transient failures reported (each query re-asked, see ``max_transient``).
        deaths: Times the worker loop died; ``restarts``: times it was restarted.
        first_label_step: Agent env steps (see :attr:`env_steps`) when the first label arrived, or ``None``.
        first_offer_step: Agent env steps when the first query was queued, or ``None``.
        env_steps: The agent's env steps so far, updated by the training thread (for ``first_label_step``).
    """

    def __init__(
        self,
        judge: CachedJudge,
        task: TaskSpec,
        total: int,
        already: int = 0,
        retry: Sequence[Query] = (),
        capacity: int = 64,
        policy: QueuePolicy = "drop_new",
        batch: int = 4,
        backoff_s: float = 0.5,
        max_attempts: int = 5,
        max_transient: int = 10,
        max_pause_s: float = 10.0,
        max_restarts: int = 3,
    ) -> None:
        self.judge = judge
        self.task = task
        self.total = int(total)
        self.registered = int(already)
        self.capacity = int(capacity)
        self.policy = policy
        self.batch = int(batch)
        self.backoff_s = float(backoff_s)
        self.max_attempts = int(max_attempts)
        self.max_transient = int(max_transient)
        self.max_pause_s = float(max_pause_s)
        self.max_restarts = int(max_restarts)
        self.iteration = 0
        self.env_steps = 0
        self.first_label_step: int | None = None
        self.first_offer_step: int | None = None
        self.labels = 0
        self.usable = 0
        self.offered = 0
        self.dropped = 0
        self.over_budget = 0
        self.worker_errors = 0
        self.abandoned = 0
        self.transient = 0
        self.deaths = 0
        self.restarts = 0
        self.stopped_reason = ""
        self._counted: set[str] = set()  # keys whose definitive label is counted (a re-asked batch repeats them)
        self._tries: dict[str, int] = {}  # transient failures per key
        self._failed_now: list[Query] = []  # transient failures of the call in progress, re-asked after it
        self._answered_now = 0  # definitive labels of the call in progress
        self._in_flight: list[Query] = []  # the batch the worker holds (re-asked if it dies)
        self._streak = 0  # consecutive calls that got only transient labels
        self._pause_until = 0.0  # perf_counter time before which the worker sends nothing
        self._retry: collections.deque[Query] = collections.deque(retry)
        self._queue: collections.deque[Query] = collections.deque()
        self._seen: set[str] = set()  # keys queued or asked by this start: never queued twice
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self._started = time.perf_counter()
        self._label_time = 0.0  # when the last label arrived (perf_counter)
        self._thread = threading.Thread(target=self._run, name="judgerl-judge-worker", daemon=True)

    # -- the training thread's side ---------------------------------------------------

    def start(self) -> None:
        """Start the worker thread."""
        self._started = time.perf_counter()
        self._thread.start()

    @property
    def budget_left(self) -> int:
        """Queries the budget still allows, minus those already queued."""
        return max(0, self.total - self.registered - len(self._queue))

    @property
    def busy(self) -> bool:
        """Whether the worker thread still runs (after :meth:`close`: a batch outlived the drain)."""
        return self._thread.is_alive()

    @property
    def labelling(self) -> bool:
        """Whether the worker still takes queries (budget left, no configuration error, not closed)."""
        return not self.stopped_reason and not self._closing

    def offer(self, queries: Sequence[Query]) -> int:
        """Queue queries for the judge without ever waiting; returns how many were queued.

        Queries past the budget are not queued (``labels/over_budget``); a full queue
        drops by :attr:`policy` (``labels/dropped``).
        """
        queued = 0
        with self._cond:
            for q in queries:
                if q.key in self._seen:
                    continue
                self.offered += 1
                if not self.labelling or self.budget_left <= 0:
                    self.over_budget += 1
                    continue
                if len(self._queue) >= self.capacity:
                    self.dropped += 1
                    if self.policy == "drop_new":
                        continue
                    self._seen.discard(self._queue.popleft().key)  # drop_old: it may be offered again
                self._queue.append(q)
                self._seen.add(q.key)
                queued += 1
            if queued:
                if self.first_offer_step is None:
                    self.first_offer_step = int(self.env_steps)
                self._cond.notify()
        return queued

    def metrics(self) -> dict[str, float]:
        """Queue, throughput and budget counters (``labels/queue_depth``, ``labels/per_s``, ...; docs/metrics.md)."""
        with self._cond:
            elapsed = max(1e-9, (self._label_time or time.perf_counter()) - self._started)
            out = {
                "labels/queue_depth": float(len(self._queue)),
                "labels/offered": float(self.offered),
                "labels/dropped": float(self.dropped),
                "labels/over_budget": float(self.over_budget),
                "labels/online": float(self.labels),
                "labels/online_usable": float(self.usable),
                "labels/per_s": self.labels / elapsed if self.labels else 0.0,
                "labels/budget_left": float(max(0, self.total - self.registered)),
                "labels/worker_errors": float(self.worker_errors),
                "labels/abandoned": float(self.abandoned),
                "labels/online_transient": float(self.transient),
                "labels/retry_queue": float(len(self._retry) + len(self._failed_now)),
                "labels/worker_deaths": float(self.deaths),
                "labels/worker_restarts": float(self.restarts),
            }
            if self.first_label_step is not None:
                out["labels/first_label_env_steps"] = float(self.first_label_step)
            if self.first_offer_step is not None:
                out["labels/first_offer_env_steps"] = float(self.first_offer_step)
            return out

    def close(self, drain_s: float) -> None:
        """Stop taking queries, drop the queue (never registered, never paid) and wait for the batch in flight.

        Args:
            drain_s: Longest wait for the batch in flight, in seconds; a judge still
                busy after that is left to its daemon thread (its queries stay registered
                and a resumed run asks them again).
        """
        with self._cond:
            self._closing = True
            self._queue.clear()
            self._retry.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=drain_s)

    # -- the worker thread --------------------------------------------------------------

    def _take(self) -> list[Query] | None:
        """The next batch (re-asks first), or ``None`` when the worker should end."""
        with self._cond:
            while True:
                if self._closing or self.stopped_reason:
                    return None
                pause = self._pause_until - time.perf_counter()
                if pause > 0:  # the last calls got only transient failures: let the server recover
                    self._cond.wait(timeout=pause)
                    continue
                if self._retry:
                    return [self._retry.popleft() for _ in range(min(self.batch, len(self._retry)))]
                if self._queue:
                    n = min(self.batch, len(self._queue), max(0, self.total - self.registered))
                    if n == 0:
                        self.stopped_reason = "budget"
                        self.over_budget += len(self._queue)
                        self._queue.clear()
                        return None
                    batch = [self._queue.popleft() for _ in range(n)]
                    self.registered += n  # registered by the judge call below, before it is judged
                    return batch
                if self.registered >= self.total:
                    self.stopped_reason = "budget"
                    return None
                self._cond.wait(timeout=0.5)

    def _on_label(self, query: Query, label: Label) -> None:
        with self._cond:
            if label.provenance.transient:
                # Stored as an audit row, never as the answer: ask again after this call (or stop: budget).
                self.transient += 1
                if label.provenance.error.startswith("budget"):
                    self.stopped_reason = "judge budget"
                    return
                self._tries[query.key] = self._tries.get(query.key, 0) + 1
                if self._tries[query.key] > self.max_transient:
                    self.abandoned += 1  # stays registered without an answer: a resumed run asks it again
                elif all(q.key != query.key for q in self._failed_now):
                    self._failed_now.append(query)
                return
            self._answered_now += 1
            if query.key in self._counted:  # a batch asked again after an error: its stored labels come back
                return
            self._counted.add(query.key)
            self.labels += 1
            self.usable += label.status == "ok"
            self._label_time = time.perf_counter()
            if self.first_label_step is None:
                self.first_label_step = int(self.env_steps)

    def _after_call(self) -> None:
        """Queue the call's transient failures for a re-ask; pause when the call got nothing else."""
        with self._cond:
            failed, self._failed_now = self._failed_now, []
            if not self._closing and not self.stopped_reason:
                self._retry.extend(failed)
            self._in_flight = []
            if failed and self._answered_now == 0:
                self._streak += 1
                pause = min(self.max_pause_s, self.backoff_s * 2 ** (self._streak - 1))
                self._pause_until = time.perf_counter() + pause
            elif self._answered_now:
                self._streak = 0

    def _run(self) -> None:
        """The worker thread: :meth:`_work`, restarted (at most ``max_restarts`` times) if it dies."""
        while True:
            try:
                self._work()
                return
            except BaseException:  # noqa: BLE001 -- whatever kills the loop must not take labelling down silently
                with self._cond:
                    self.deaths += 1
                    # The batch it held is registered: ask it again first (labels already stored come from the cache).
                    held = [q for q in (*self._in_flight, *self._failed_now) if q.key not in self._counted]
                    self._in_flight, self._failed_now = [], []
                    self._retry.extendleft(reversed(list({q.key: q for q in held}.values())))
                    restart = not self._closing and not self.stopped_reason and self.deaths <= self.max_restarts
                    if not restart and not self._closing and not self.stopped_reason:
                        self.stopped_reason = "worker died"
                print(
                    f"judgerl: online judge worker died ({self.deaths}, "
                    f"{'restarting' if restart else 'labelling stops'}):\n{traceback.format_exc()}",
                    file=sys.stderr,
                )
                if not restart:
                    return
                with self._cond:
                    delay = min(self.max_pause_s, self.backoff_s * 2 ** (self.deaths - 1))
                    if self._cond.wait_for(lambda: self._closing, timeout=delay):
                        return
                    self.restarts += 1

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            with self._cond:
                self._in_flight = list(batch)
            attempt = 0
            while True:
                try:
                    with self._cond:
                        self._failed_now, self._answered_now = [], 0
                    self.judge.judge(self.task, batch, on_label=self._on_label, iteration=self.iteration)
                    self._after_call()
                    break
                except JudgeConfigError as e:
                    # Every query would fail the same way: stop labelling, keep training (the labels so far stay).
                    print(f"judgerl: online judge stopped: {e}", file=sys.stderr)
                    with self._cond:
                        self.stopped_reason = "config"
                        self.worker_errors += 1
                    return
                except Exception:  # noqa: BLE001 -- a judge bug must not end the run; it is counted and retried
                    attempt += 1
                    with self._cond:
                        self.worker_errors += 1
                    print(
                        f"judgerl: online judge error (attempt {attempt}):\n{traceback.format_exc()}", file=sys.stderr
                    )
                    if attempt >= self.max_attempts:
                        # The batch stays registered without labels: a resumed run asks it again.
                        with self._cond:
                            self.abandoned += sum(q.key not in self._counted for q in batch)
                            self._in_flight, self._failed_now = [], []
                        break
                    with self._cond:
                        if self._cond.wait_for(
                            lambda: self._closing, timeout=min(30.0, self.backoff_s * 2 ** (attempt - 1))
                        ):
                            return
