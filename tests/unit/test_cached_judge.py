"""CachedJudge: reuse, dedup, transient re-asks, durability under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from judgerl.judges.base import Judge, OnLabel
from judgerl.labels import CachedJudge, LabelStore
from judgerl.types import Label, Provenance, Query, TaskSpec

TASK = TaskSpec(
    id="test/none-v0",
    instruction="keep the pole up",
    env_id="CartPole-v1",
    captioner=lambda o: "a pole",
    success=lambda r, o: r > 0,
)

# Builds the same queries in this process and in the SIGKILL subprocess.
_HELPERS = """
import numpy as np
from judgerl.types import Query, Segment

def make_segment(rng, t=4):
    return Segment(
        obs=rng.normal(size=(t, 3)).astype(np.float32),
        acts=rng.normal(size=(t, 1)).astype(np.float32),
        env_rewards=rng.normal(size=t).astype(np.float32),
        dones=np.zeros(t, dtype=np.float32),
        captions=tuple(f"step {i}" for i in range(t)),
        episode_id="ep", start=0, truth={"r": float(rng.normal())},
    )

def make_queries(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Query(kind="pairwise", segments=(make_segment(rng), make_segment(rng))) for _ in range(n)]
"""
_ns: dict[str, object] = {}
exec(_HELPERS, _ns)
make_queries: Callable[..., list[Query]] = _ns["make_queries"]  # type: ignore[assignment]


class FakeJudge:
    """Answers by the true return difference; a per-key script can make it fail."""

    def __init__(self, judge_id: str = "fake", fail: dict[str, tuple[str, bool]] | None = None, notify: bool = True):
        self._id = judge_id
        self.fail = fail or {}  # query key -> (error, transient)
        self.notify = notify
        self.asked: list[str] = []

    @property
    def id(self) -> str:
        return self._id

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        out = []
        for q in queries:
            self.asked.append(q.key)
            if q.key in self.fail:
                err, transient = self.fail[q.key]
                prov = Provenance(self._id, "fake-model", raw_response="hmm?", error=err, transient=transient)
                label = Label(q.key, "failed", prov)
            else:
                a, b = q.segments
                pref = 1.0 if a.true_return > b.true_return else 0.0
                label = Label(q.key, "ok", Provenance(self._id, "fake-model", tokens_in=10), preference=pref)
            if on_label is not None and self.notify:
                on_label(q, label)
            out.append(label)
        return out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LabelStore]:
    with LabelStore(tmp_path / "labels.sqlite") as s:
        yield s


def test_is_a_judge_with_inner_id(store: LabelStore) -> None:
    cj = CachedJudge(FakeJudge("abc"), store)
    assert isinstance(cj, Judge) and cj.id == "abc"


def test_dedup_and_reuse(store: LabelStore) -> None:
    q1, q2, q3 = make_queries(3)
    inner = FakeJudge()
    cj = CachedJudge(inner, store, iteration=3)
    labels = cj.judge(TASK, [q1, q1, q2])
    assert inner.asked == [q1.key, q2.key]  # q1 asked once
    assert [lab.query_key for lab in labels] == [q1.key, q1.key, q2.key]
    assert labels[0] == labels[1]
    assert (cj.cache_hits, cj.cache_misses, cj.calls) == (0, 3, 2)
    assert [q.key for q in store.queries_for_iteration(3)] == [q1.key, q2.key]

    again = cj.judge(TASK, [q2, q3, q1], iteration=4)
    assert inner.asked == [q1.key, q2.key, q3.key]  # only q3 is new
    assert [lab.query_key for lab in again] == [q2.key, q3.key, q1.key]
    assert again[0] == labels[2] and again[2] == labels[0]
    assert (cj.cache_hits, cj.cache_misses, cj.calls) == (2, 4, 3)
    assert cj.stats()["judge/cache_hit_rate"] == pytest.approx(2 / 6)
    assert [q.key for q in store.queries_for_iteration(4)] == [q3.key]
    assert store.stats("fake")["labels/ok"] == 3.0

    # a fresh wrapper on the same store (a resumed run) pays for nothing
    inner2 = FakeJudge()
    assert CachedJudge(inner2, store).judge(TASK, [q1, q2, q3]) == [labels[0], labels[2], again[1]]
    assert inner2.asked == []
    # another judge id shares nothing
    other = FakeJudge("other")
    CachedJudge(other, store).judge(TASK, [q1])
    assert other.asked == [q1.key]


def test_transient_failures_are_reasked_definitive_ones_are_not(store: LabelStore) -> None:
    q_timeout, q_parse, q_ok = make_queries(3)
    fail = {q_timeout.key: ("timeout", True), q_parse.key: ("unparseable answer", False)}
    inner = FakeJudge(fail=fail)
    cj = CachedJudge(inner, store)
    first = cj.judge(TASK, [q_timeout, q_parse, q_ok])
    assert [lab.status for lab in first] == ["failed", "failed", "ok"]
    assert first[1].provenance.raw_response == "hmm?"

    inner.fail = {}  # the server is back
    second = cj.judge(TASK, [q_timeout, q_parse, q_ok])
    assert inner.asked == [q_timeout.key, q_parse.key, q_ok.key, q_timeout.key]
    assert [lab.status for lab in second] == ["ok", "failed", "ok"]
    assert second[1] == first[1]  # the parse failure is kept, with its raw text, not re-bought
    s = store.stats("fake")
    assert (s["labels/total"], s["labels/ok"], s["labels/failed"], s["labels/transient"]) == (4.0, 2.0, 2.0, 1.0)


def test_on_label_after_commit_for_every_position(store: LabelStore) -> None:
    q1, q2 = make_queries(2)
    CachedJudge(FakeJudge(), store).judge(TASK, [q1])
    seen: list[tuple[str, bool]] = []

    def on_label(q: Query, label: Label) -> None:
        assert q.key == label.query_key
        seen.append((q.key, bool(store.cached("fake", [q.key]))))

    CachedJudge(FakeJudge(), store).judge(TASK, [q2, q1, q2], on_label=on_label)
    # cached first, then each position of the fresh query -- all durable already
    assert seen == [(q1.key, True), (q2.key, True), (q2.key, True)]


def test_inner_judge_without_callbacks_is_still_stored(store: LabelStore) -> None:
    qs = make_queries(2)
    CachedJudge(FakeJudge(notify=False), store).judge(TASK, qs)
    assert len(store.cached("fake", [q.key for q in qs])) == 2


def test_contract_violations_raise(store: LabelStore) -> None:
    q1, q2 = make_queries(2)

    class Short(FakeJudge):
        def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
            return super().judge(task, queries[:1], on_label)

    with pytest.raises(RuntimeError, match="1 labels for 2"):
        CachedJudge(Short(), store).judge(TASK, [q1, q2])

    class Wrong(FakeJudge):
        def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
            return super().judge(task, [q1], on_label)

    with pytest.raises(RuntimeError, match="not asked"):
        CachedJudge(Wrong(), store).judge(TASK, [q2])


_SIGKILL_SCRIPT = (
    _HELPERS
    + """
import sys, time
from judgerl.labels import CachedJudge, LabelStore
from judgerl.types import Label, Provenance, TaskSpec

store_path, calls_path = sys.argv[1], sys.argv[2]

class SlowJudge:
    id = "slow"

    def judge(self, task, queries, on_label=None):
        out = []
        for q in queries:
            time.sleep(0.05)  # the paid-for work
            with open(calls_path, "a") as f:
                f.write(q.key + "\\n")
            label = Label(q.key, "ok", Provenance("slow", "m"), preference=0.5)
            on_label(q, label)  # right after the answer: the window to lose it is tiny
            out.append(label)
        return out

task = TaskSpec(id="t", instruction="i", env_id="e", captioner=str, success=lambda r, o: True)
with LabelStore(store_path) as store:
    CachedJudge(SlowJudge(), store).judge(task, make_queries(40))
"""
)


def test_two_runs_on_one_store_share_labels_not_queries(store: LabelStore) -> None:
    """Defect 7: run b never trains on run a's queries, yet pays nothing for a label run a bought."""
    qs = make_queries(5)
    first, second = FakeJudge(), FakeJudge()
    CachedJudge(first, store, run_id="a").judge(TASK, qs[:3])
    CachedJudge(second, store, run_id="b").judge(TASK, qs[2:5])
    assert second.asked == [qs[3].key, qs[4].key]  # qs[2] came from the cache
    assert [q.key for q in store.queries_for_iteration(0, run_id="b")] == [q.key for q in qs[2:5]]
    assert [lab.query_key for _, lab in store.labelled("fake", run_id="b")] == [q.key for q in qs[2:5]]
    assert store.stats("fake", run_id="a")["labels/total"] == 3.0
    assert store.stats("fake", run_id="b")["labels/total"] == 2.0  # b paid for two rows


def test_sigkill_loses_nothing_and_resume_pays_nothing_twice(tmp_path: Path) -> None:
    script = tmp_path / "label_run.py"
    script.write_text(textwrap.dedent(_SIGKILL_SCRIPT))
    store_path, calls_path = tmp_path / "labels.sqlite", tmp_path / "calls.log"
    args = [sys.executable, str(script), str(store_path), str(calls_path)]
    keys = {q.key for q in make_queries(40)}

    with LabelStore(store_path) as watcher:
        proc = subprocess.Popen(args)
        try:
            deadline = time.monotonic() + 60
            while watcher.stats("slow")["labels/ok"] < 10:
                assert proc.poll() is None, "the labelling run ended before it could be killed"
                assert time.monotonic() < deadline, "no labels appeared within 60 s"
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL

    with LabelStore(store_path) as s:  # reopen after the kill: committed labels survived
        at_kill = set(s.cached("slow", list(keys)))
    assert 10 <= len(at_kill) < 40
    calls_before = calls_path.read_text().split()
    assert at_kill <= set(calls_before)

    subprocess.run(args, check=True, timeout=120)
    calls_all = calls_path.read_text().split()
    calls_after = calls_all[len(calls_before) :]
    assert not at_kill & set(calls_after), "labels committed before the kill were bought again"
    assert set(calls_all) == keys
    assert len(calls_all) <= 40 + 1  # at most the one answer in flight at the kill is bought twice

    with LabelStore(store_path) as s:
        assert s.stats("slow")["labels/ok"] == 40.0
        assert s.stats("slow")["labels/total"] == 40.0
        assert {q.key for q, _ in s.labelled("slow")} == keys
        assert len(s.queries_for_iteration(0)) == 40
