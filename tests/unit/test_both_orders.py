"""BothOrders: order disagreements become ties/abstains and are counted."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from judgerl.config import OracleNoiseConfig
from judgerl.judges.base import Judge, OnLabel
from judgerl.judges.both_orders import BothOrders, swapped
from judgerl.judges.oracle import OracleJudge
from judgerl.judges.scripted import ScriptedJudge, scripted_from_true_return
from judgerl.testing.fixtures import make_segment, tiny_task
from judgerl.types import Label, Provenance, Query, TaskSpec

seg = make_segment


TASK = tiny_task()


def random_pairs(n: int, seed: int = 0) -> list[Query]:
    rng = np.random.default_rng(seed)
    return [Query("pairwise", (seg(a), seg(b))) for a, b in rng.normal(size=(n, 2))]


def always_first(task: TaskSpec, q: Query) -> float:
    return 1.0


def test_swapped_query() -> None:
    q = random_pairs(1)[0]
    s = swapped(q)
    assert s.segments == (q.segments[1], q.segments[0]) and s.key != q.key
    with pytest.raises(ValueError):
        swapped(Query("pointwise", (seg(1),)))


@pytest.mark.parametrize("policy", ["tie", "abstain"])
def test_position_biased_judge_becomes_ties_or_abstains(policy: str) -> None:
    qs = random_pairs(20)
    inner = ScriptedJudge(always_first)
    j = BothOrders(inner, on_disagreement=policy)  # type: ignore[arg-type]
    assert isinstance(j, Judge)
    labels = j.judge(TASK, qs)
    assert inner.calls == 40
    if policy == "tie":
        assert all(lab.status == "ok" and lab.preference == 0.5 for lab in labels)
    else:
        assert all(lab.status == "abstain" and lab.preference is None for lab in labels)
    assert all("order disagreement" in lab.provenance.error for lab in labels)
    assert j.stats() == {
        "judge/swap_disagreements": 20.0,
        "judge/swap_pairs": 20.0,
        "judge/swap_disagreement_rate": 1.0,
    }


def test_consistent_judge_keeps_answers_and_averages_soft_values() -> None:
    qs = random_pairs(30)
    hard = BothOrders(scripted_from_true_return()).judge(TASK, qs)
    want = [1.0 if q.segments[0].true_return > q.segments[1].true_return else 0.0 for q in qs]
    assert [lab.preference for lab in hard] == want

    def soft(task: TaskSpec, q: Query) -> float:
        # Confident when the first shown is better, less so otherwise.
        return 0.9 if q.segments[0].true_return > q.segments[1].true_return else 0.3

    j = BothOrders(ScriptedJudge(soft))
    labels = j.judge(TASK, qs)
    assert [lab.preference for lab in labels] == pytest.approx([0.8 if w == 1.0 else 0.2 for w in want])
    assert j.stats()["judge/swap_disagreements"] == 0.0 and j.stats()["judge/swap_pairs"] == 30.0


def test_oracle_position_bias_shows_as_disagreement_rate() -> None:
    n, bias = 2000, 0.3
    j = BothOrders(OracleJudge(OracleNoiseConfig(position_bias=bias), seed=4))
    j.judge(TASK, random_pairs(n, seed=1))
    rate = j.stats()["judge/swap_disagreement_rate"]
    # Truth picks A: the (B, A) copy is wrong with prob. bias, the (A, B) copy never; and vice versa.
    assert abs(rate - bias) < 3.5 * math.sqrt(bias * (1 - bias) / n)


def test_failure_in_either_order_fails_and_provenance_is_combined() -> None:
    def answer(task: TaskSpec, q: Query) -> Label | None:
        first_better = q.segments[0].true_return > q.segments[1].true_return
        if q.segments[0].true_return > 5:  # only the B-first copy of the big pair fails
            return None
        prov = Provenance(
            "inner",
            "m",
            raw_response=f"says {'A' if first_better else 'B'}",
            tokens_in=10,
            tokens_out=2,
            cost_usd=0.01,
            latency_s=0.5,
            retries=1,
        )
        return Label(q.key, "ok", prov, preference=1.0 if first_better else 0.0)

    qs = [Query("pairwise", (seg(1), seg(0))), Query("pairwise", (seg(0), seg(9)))]
    labels = BothOrders(ScriptedJudge(answer)).judge(TASK, qs)
    ok, failed = labels
    assert ok.status == "ok" and ok.preference == 1.0
    p = ok.provenance
    assert (p.tokens_in, p.tokens_out, p.retries, p.swapped) == (20, 4, 2, False)
    assert p.cost_usd == pytest.approx(0.02) and p.latency_s == pytest.approx(1.0)
    assert p.raw_response == "[A,B] says A\n[B,A] says B"
    assert failed.status == "failed" and failed.preference is None
    assert "unparseable" in failed.provenance.raw_response


def test_abstain_in_either_order_abstains() -> None:
    answers = iter([1.0, "abstain"])
    labels = BothOrders(ScriptedJudge(lambda t, q: next(answers))).judge(TASK, random_pairs(1))
    assert labels[0].status == "abstain"


def test_non_pairwise_pass_through_and_mixed_batches_keep_order() -> None:
    inner = scripted_from_true_return()
    pts = [Query("episode", (seg(2.0),)), Query("pointwise", (seg(-1.0),))]
    qs = [pts[0], *random_pairs(2), pts[1]]
    seen: list[str] = []
    labels = BothOrders(inner).judge(TASK, qs, lambda q, lab: seen.append(q.key))
    assert [lab.query_key for lab in labels] == [q.key for q in qs]
    assert sorted(seen) == sorted(q.key for q in qs) and len(seen) == 4
    assert labels[0].value == 1.0 and labels[3].value == 0.0
    assert inner.calls == 6


class ReverseCallbacks:
    """An inner judge that reports labels through on_label in reverse order."""

    def __init__(self) -> None:
        self.inner = scripted_from_true_return()

    @property
    def id(self) -> str:
        return "reverse"

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        labels = self.inner.judge(task, queries)
        for q, lab in reversed(list(zip(queries, labels, strict=True))):
            if on_label is not None:
                on_label(q, lab)
        return labels


def test_out_of_order_callbacks_duplicates_and_identical_segments() -> None:
    a, b = seg(1.0), seg(0.0)
    same = seg(0.5)
    qs = [
        Query("pairwise", (a, b)),
        Query("pairwise", (b, a)),
        Query("pairwise", (a, b)),
        Query("pairwise", (same, same)),
    ]
    got: list[tuple[str, float | None]] = []
    labels = BothOrders(ReverseCallbacks()).judge(TASK, qs, lambda q, lab: got.append((q.key, lab.preference)))
    assert [lab.preference for lab in labels] == [1.0, 0.0, 1.0, 0.5]
    assert sorted(got, key=str) == sorted(((q.key, lab.preference) for q, lab in zip(qs, labels, strict=True)), key=str)


def test_id_depends_on_inner_and_policy() -> None:
    inner = OracleJudge()
    assert BothOrders(inner).id == BothOrders(inner).id
    assert BothOrders(inner).id != BothOrders(inner, "abstain").id
    assert BothOrders(inner).id != BothOrders(OracleJudge(seed=1)).id
    assert BothOrders(inner).judge(TASK, random_pairs(1))[0].provenance.judge_id == BothOrders(inner).id
    with pytest.raises(ValueError):
        BothOrders(inner, "coin")  # type: ignore[arg-type]
