"""OnlineLabeller: the queue never blocks, drops are counted, the budget holds, judge errors do not kill it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from judgerl.faults import WorkerKilled
from judgerl.judges.base import JudgeConfigError, OnLabel
from judgerl.labels import CachedJudge, LabelStore
from judgerl.labels.online import OnlineLabeller
from judgerl.types import Label, Provenance, Query, Segment, TaskSpec

TASK = TaskSpec(
    id="test/none-v0",
    instruction="keep the pole up",
    env_id="CartPole-v1",
    captioner=lambda o: "a pole",
    success=lambda r, o: r > 0,
)


def make_queries(n: int, seed: int = 0) -> list[Query]:
    rng = np.random.default_rng(seed)

    def seg() -> Segment:
        return Segment(
            obs=rng.normal(size=(4, 3)).astype(np.float32),
            acts=rng.normal(size=(4, 1)).astype(np.float32),
            env_rewards=rng.normal(size=4).astype(np.float32),
            dones=np.zeros(4, dtype=np.float32),
            episode_id="ep",
            start=0,
        )

    return [Query(kind="pairwise", segments=(seg(), seg())) for _ in range(n)]


class GatedJudge:
    """Answers 0.5 to everything; waits for ``gate`` before each call; ``raise_on`` call numbers raise."""

    def __init__(self, gate: threading.Event | None = None, raise_on: Sequence[int] = (), config_error: bool = False):
        self.gate = gate
        self.raise_on = set(raise_on)
        self.config_error = config_error
        self.calls = 0
        self.asked: list[str] = []

    @property
    def id(self) -> str:
        return "gated"

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        if self.gate is not None:
            self.gate.wait(10)
        self.calls += 1
        if self.config_error:
            raise JudgeConfigError("401: wrong key")
        if self.calls in self.raise_on:
            raise RuntimeError("the judge process died")
        out = []
        for q in queries:
            self.asked.append(q.key)
            label = Label(q.key, "ok", Provenance(judge_id="gated", model="m"), preference=0.5)
            if on_label is not None:
                on_label(q, label)
            out.append(label)
        return out


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def labeller(judge: GatedJudge, **kw: object) -> tuple[OnlineLabeller, LabelStore]:
    store = LabelStore(":memory:")
    return OnlineLabeller(CachedJudge(judge, store, run_id="r"), TASK, backoff_s=0.01, **kw), store  # type: ignore[arg-type]


def test_a_full_queue_drops_new_items_without_waiting_and_counts_them() -> None:
    gate = threading.Event()  # the judge is stuck: nothing leaves the queue
    lab, _ = labeller(GatedJudge(gate), total=100, capacity=3, batch=1)
    lab.start()
    qs = make_queries(8)
    t0 = time.perf_counter()
    lab.offer(qs[:1])
    assert wait_for(lambda: lab.metrics()["labels/queue_depth"] == 0)  # the worker holds query 0
    queued = lab.offer(qs[1:])
    assert time.perf_counter() - t0 < 1.0  # offering never waits for the judge
    m = lab.metrics()
    assert queued == 3 and m["labels/queue_depth"] == 3 and m["labels/dropped"] == 4
    assert [q.key for q in lab._queue] == [q.key for q in qs[1:4]]  # drop_new keeps the oldest
    gate.set()
    lab.close(5)


def test_drop_old_keeps_the_newest_items() -> None:
    gate = threading.Event()
    lab, _ = labeller(GatedJudge(gate), total=100, capacity=2, batch=1, policy="drop_old")
    qs = make_queries(5)
    lab.offer(qs)  # not started: nothing leaves the queue
    assert lab.dropped == 3 and [q.key for q in lab._queue] == [q.key for q in qs[3:]]
    gate.set()


def test_the_budget_caps_registered_queries_and_labels() -> None:
    judge = GatedJudge()
    lab, store = labeller(judge, total=5, capacity=100, batch=2, already=1)
    lab.start()
    lab.offer(make_queries(10))
    assert wait_for(lambda: lab.stopped_reason == "budget")
    m = lab.metrics()
    assert len(judge.asked) == 4 and m["labels/online"] == 4  # 1 registered before this start + 4 = 5
    assert m["labels/over_budget"] == 6 and m["labels/budget_left"] == 0
    assert lab.offer(make_queries(3, seed=1)) == 0  # later offers are refused, counted, never queued
    assert lab.metrics()["labels/over_budget"] == 9
    assert len(store.labelled("gated", run_id="r")) == 4
    lab.close(5)


def test_a_judge_that_raises_is_counted_and_the_batch_retried() -> None:
    judge = GatedJudge(raise_on=(1, 3))
    lab, store = labeller(judge, total=100, batch=2)
    lab.start()
    lab.offer(make_queries(6))
    assert wait_for(lambda: lab.labels == 6)
    m = lab.metrics()
    assert m["labels/worker_errors"] == 2 and m["labels/abandoned"] == 0
    assert len(set(judge.asked)) == len(judge.asked) == 6  # each query answered (and paid) once
    assert len(store.labelled("gated", run_id="r")) == 6
    lab.close(5)


def test_a_configuration_error_stops_labelling_not_the_caller() -> None:
    lab, _ = labeller(GatedJudge(config_error=True), total=100)
    lab.start()
    lab.offer(make_queries(3))
    assert wait_for(lambda: lab.stopped_reason == "config")
    assert lab.metrics()["labels/worker_errors"] == 1
    assert lab.offer(make_queries(2, seed=3)) == 0
    lab.close(5)


def test_registered_unanswered_queries_are_asked_first_without_new_budget() -> None:
    judge = GatedJudge()
    retry = make_queries(2, seed=7)
    lab, _ = labeller(judge, total=3, already=3, retry=retry)
    lab.start()
    assert wait_for(lambda: lab.labels == 2)
    assert judge.asked == [q.key for q in retry]
    lab.close(5)


class FlakyJudge:
    """Answers 0.5, or -- while ``down`` is set -- a transient failure, as the chat judge does when the
    server is unreachable after its client's retries. ``die_on``: call numbers that kill the worker
    (:class:`WorkerKilled`) after their first label; ``raise_on``: calls that raise after it."""

    def __init__(self, die_on: Sequence[int] = (), raise_on: Sequence[int] = ()) -> None:
        self.down = threading.Event()
        self.die_on, self.raise_on = set(die_on), set(raise_on)
        self.calls = 0
        self.answered: list[str] = []  # keys answered (paid for) by a definitive label
        self.transient = 0

    @property
    def id(self) -> str:
        return "flaky"

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        self.calls += 1
        out = []
        for i, q in enumerate(queries):
            if self.down.is_set():
                self.transient += 1
                prov = Provenance(judge_id="flaky", model="m", error="connection error: ConnectError", transient=True)
                label = Label(q.key, "failed", prov)
            else:
                self.answered.append(q.key)
                label = Label(q.key, "ok", Provenance(judge_id="flaky", model="m"), preference=0.5)
            if on_label is not None:
                on_label(q, label)
            out.append(label)
            if i == 0 and self.calls in self.die_on:
                raise WorkerKilled("killed")
            if i == 0 and self.calls in self.raise_on:
                raise OSError("disk full after the first label")
        return out


def flaky_labeller(judge: FlakyJudge, **kw: object) -> tuple[OnlineLabeller, LabelStore]:
    store = LabelStore(":memory:")
    cached = CachedJudge(judge, store, run_id="r")  # type: ignore[arg-type]
    return OnlineLabeller(cached, TASK, backoff_s=0.02, max_pause_s=0.1, **kw), store  # type: ignore[arg-type]


def test_transient_failures_are_asked_again_later_not_stored_as_answers_nor_charged_twice() -> None:
    """The server is down for the first calls: those queries are re-asked once it is back (regression:
    they were counted as labels and never asked again in the run)."""
    judge = FlakyJudge()
    judge.down.set()
    lab, store = flaky_labeller(judge, total=6, batch=2)
    lab.start()
    lab.offer(make_queries(6))
    assert wait_for(lambda: judge.transient >= 4)
    assert lab.labels == 0 and store.cached("flaky", [q.key for q in make_queries(6)]) == {}
    judge.down.clear()  # the server is back
    assert wait_for(lambda: lab.labels == 6)
    m = lab.metrics()
    assert len(store.labelled("flaky", run_id="r")) == 6  # labels lost: 0
    assert sorted(judge.answered) == sorted(set(judge.answered)) and len(judge.answered) == 6  # paid once each
    assert m["labels/online_transient"] == judge.transient >= 4 and m["labels/budget_left"] == 0
    assert m["labels/abandoned"] == 0 and lab.registered == 6  # re-asks are not charged to the budget again
    assert store.stats("flaky", run_id="r")["labels/transient"] == judge.transient  # kept as audit rows
    lab.close(5)


def test_a_call_with_only_transient_failures_pauses_the_worker_and_registers_nothing_new() -> None:
    """While the server is down the worker re-asks the failed batch after a pause instead of taking (and
    registering, i.e. spending budget on) new queries (regression: it went through the whole queue)."""
    judge = FlakyJudge()
    judge.down.set()
    lab, _ = flaky_labeller(judge, total=100, batch=2)
    lab.start()
    lab.offer(make_queries(10))
    time.sleep(0.6)
    assert lab.registered == 2 and lab.metrics()["labels/queue_depth"] == 8
    assert 2 <= judge.calls <= 12  # paused 0.02, 0.04, 0.08, then 0.1 s between calls: no busy loop
    judge.down.clear()
    assert wait_for(lambda: lab.labels == 10)
    lab.close(5)


def test_a_query_that_keeps_failing_transiently_is_left_for_a_resumed_run() -> None:
    judge = FlakyJudge()
    judge.down.set()
    lab, store = flaky_labeller(judge, total=10, batch=1, max_transient=3)
    lab.start()
    lab.offer(make_queries(1))
    assert wait_for(lambda: lab.metrics()["labels/abandoned"] == 1)
    assert judge.calls == 4 and lab.metrics()["labels/retry_queue"] == 0
    assert [q.key for q in store.unanswered("flaky", "r")] == [make_queries(1)[0].key]  # still registered
    lab.close(5)


def test_a_batch_asked_again_after_an_error_counts_each_label_once() -> None:
    """The first call stores one label, then raises: the retried batch gets that label from the cache
    (free) and it is counted once (regression: counted twice, which also fed the refit counter)."""
    judge = FlakyJudge(raise_on=(1,))
    lab, store = flaky_labeller(judge, total=10, batch=3)
    lab.start()
    lab.offer(make_queries(3))
    assert wait_for(lambda: lab.labels == 3 and lab.metrics()["labels/worker_errors"] == 1)
    time.sleep(0.1)
    assert lab.labels == lab.usable == 3 and len(judge.answered) == 3
    assert len(store.labelled("flaky", run_id="r")) == 3
    lab.close(5)


def test_a_killed_worker_is_restarted_and_its_batch_asked_again_without_paying_twice() -> None:
    judge = FlakyJudge(die_on=(1,))
    lab, store = flaky_labeller(judge, total=10, batch=3)
    lab.start()
    lab.offer(make_queries(5))
    assert wait_for(lambda: lab.labels == 5)
    m = lab.metrics()
    assert m["labels/worker_deaths"] == 1 and m["labels/worker_restarts"] == 1 and lab.labelling
    assert sorted(judge.answered) == sorted(set(judge.answered))  # the stored first label was not bought again
    assert len(store.labelled("flaky", run_id="r")) == 5
    lab.close(5)


def test_a_worker_that_keeps_dying_stops_labelling_but_not_the_caller() -> None:
    judge = FlakyJudge(die_on=range(1, 100))
    lab, store = flaky_labeller(judge, total=20, batch=2, max_restarts=2)
    lab.start()
    lab.offer(make_queries(8))
    assert wait_for(lambda: lab.stopped_reason == "worker died")
    m = lab.metrics()
    assert m["labels/worker_deaths"] == 3 and m["labels/worker_restarts"] == 2
    assert lab.labels == len(store.labelled("flaky", run_id="r")) == 3  # one stored label per call, none lost
    assert lab.offer(make_queries(2, seed=5)) == 0  # later offers are refused and counted; nothing raises
    lab.close(5)
