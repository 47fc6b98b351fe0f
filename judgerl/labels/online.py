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
        backoff_s: Wait after a judge exception before trying again, in seconds (doubles, at most 30 s).
        max_attempts: Judge calls for one batch before it is given up (counted in ``labels/abandoned``).

    Attributes:
        iteration: Outer-loop iteration recorded for queries registered from now on (the loop sets it).
        labels: Labels committed by this start of the run, any status.
        usable: ``ok`` labels among them.
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
        self.stopped_reason = ""
        self._retry: collections.deque[Query] = collections.deque(retry)
        self._queue: collections.deque[Query] = collections.deque()
        self._seen: set[str] = set()  # keys queued or asked by this start: never queued twice
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self._started = time.perf_counter()
        self._label_time = 0.0  # when the last label arrived (perf_counter)
        self._thread = threading.Thread(target=self._work, name="judgerl-judge-worker", daemon=True)

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
            self.labels += 1
            self.usable += label.status == "ok"
            self._label_time = time.perf_counter()
            if self.first_label_step is None:
                self.first_label_step = int(self.env_steps)
            if label.provenance.transient and label.provenance.error.startswith("budget"):
                self.stopped_reason = "judge budget"

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            attempt = 0
            while True:
                try:
                    self.judge.judge(self.task, batch, on_label=self._on_label, iteration=self.iteration)
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
                            self.abandoned += len(batch)
                        break
                    with self._cond:
                        if self._cond.wait_for(
                            lambda: self._closing, timeout=min(30.0, self.backoff_s * 2 ** (attempt - 1))
                        ):
                            return
