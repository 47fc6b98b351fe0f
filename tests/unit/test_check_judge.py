"""check_judge: agreement, swap consistency, AUC, invalid rate, cost, contract violations."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence

import numpy as np
import pytest

from judgerl.judges.base import OnLabel
from judgerl.judges.check import JudgeContractError, PreflightThresholds, check_judge, rank_auc
from judgerl.judges.oracle import OracleJudge
from judgerl.judges.scripted import ScriptedJudge, scripted_from_true_return
from judgerl.testing.fixtures import make_segment, tiny_task
from judgerl.types import Label, Provenance, Query, TaskSpec

seg = make_segment


TASK = tiny_task()


def pair_probes(n: int, seed: int = 0) -> list[Query]:
    rng = np.random.default_rng(seed)
    return [Query("pairwise", (seg(a), seg(b))) for a, b in rng.normal(size=(n, 2))]


def point_probes(n: int, seed: int = 0) -> list[Query]:
    return [Query("pointwise", (seg(r),)) for r in np.random.default_rng(seed).normal(size=n)]


def coin(task: TaskSpec, q: Query) -> float:
    """A random judge: a fair coin seeded by the query key."""
    return float(int(hashlib.sha256(q.key.encode()).hexdigest(), 16) % 2)


def test_noiseless_oracle_agrees_with_itself() -> None:
    rep = check_judge(OracleJudge(), TASK, pair_probes(50), oracle=OracleJudge(), planned_labels=100)
    assert rep.agreement == 1.0 and rep.swap_consistency == 1.0 and rep.n_compared == 50
    assert rep.invalid_rate == 0.0 and rep.overall == "pass"
    assert rep.cost_per_label_usd == 0.0 and rep.projected_cost_usd == 0.0
    assert {c.name for c in rep.checks} == {"agreement", "invalid_rate", "swap_consistency"}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_judge_agrees_half_the_time_and_fails(seed: int) -> None:
    rep = check_judge(ScriptedJudge(coin), TASK, pair_probes(200, seed), oracle=OracleJudge())
    assert rep.agreement is not None and abs(rep.agreement - 0.5) < 0.13  # 3.5 sigma for n=200
    assert rep.overall == "fail"


def test_always_a_judge_fails_on_swap_consistency() -> None:
    rep = check_judge(ScriptedJudge(lambda t, q: 1.0), TASK, pair_probes(100), oracle=OracleJudge())
    assert rep.swap_consistency == 0.0
    verdicts = {c.name: c.verdict for c in rep.checks}
    assert verdicts["swap_consistency"] == "fail" and rep.overall == "fail"


def test_ties_count_half() -> None:
    rep = check_judge(ScriptedJudge(lambda t, q: 0.5), TASK, pair_probes(40), oracle=OracleJudge())
    assert rep.agreement == 0.5 and rep.swap_consistency == 1.0


def test_a_position_biased_model_behind_both_orders_fails_on_order_consistency() -> None:
    """Found with Qwen2.5-0.5B on NetHack caption pairs (it always answered the first message): asked in both
    orders, every pair became a tie, which showed as swap consistency 1, tie rate 1 and a `pass`."""
    from judgerl.judges.both_orders import BothOrders

    rep = check_judge(BothOrders(ScriptedJudge(lambda t, q: 1.0)), TASK, pair_probes(40))  # no oracle, as on NetHack
    assert rep.swap_consistency == 1.0 and rep.tie_rate == 1.0  # what hid the bias before
    verdicts = {c.name: c.verdict for c in rep.checks}
    assert rep.order_consistency == 0.0 and verdicts["order_consistency"] == "fail"
    assert verdicts["tie_rate"] == "fail" and rep.overall == "fail"
    # An unbiased model keeps its verdicts: the oracle asked in both orders always agrees with itself.
    rep = check_judge(BothOrders(OracleJudge()), TASK, pair_probes(40), oracle=OracleJudge())
    assert rep.order_consistency == 1.0 and rep.overall == "pass"
    assert "tie_rate" not in {c.name for c in rep.checks}


def test_no_oracle_still_measures_invalid_rate_and_latency() -> None:
    j = ScriptedJudge(lambda t, q: 1.0, fail_rate=0.5, delay_s=0.01)
    rep = check_judge(j, TASK, point_probes(20))
    assert rep.agreement is None and rep.auc is None and rep.swap_consistency is None
    assert 0.2 < rep.invalid_rate < 0.8
    assert rep.latency_p50_s >= 0.009 and rep.latency_p95_s >= rep.latency_p50_s
    assert [c.name for c in rep.checks] == ["invalid_rate"] and rep.overall == "fail"


def test_invalid_rate_warn_band() -> None:
    answers = itertools.cycle([None] + [1.0] * 9)  # 10 % failed
    rep = check_judge(ScriptedJudge(lambda t, q: next(answers)), TASK, point_probes(40))
    assert rep.invalid_rate == pytest.approx(0.1) and rep.overall == "warn"
    strict = PreflightThresholds(invalid_fail=0.05, invalid_warn=0.01)
    assert (
        check_judge(ScriptedJudge(lambda t, q: next(answers)), TASK, point_probes(40), thresholds=strict).overall
        == "fail"
    )


def test_pointwise_auc_catches_an_inverted_judge() -> None:
    probes = point_probes(60)
    good = check_judge(ScriptedJudge(lambda t, q: q.segments[0].true_return * 7), TASK, probes, oracle=OracleJudge())
    # Continuous scores: agreement is the share of probe pairs the scores order like the true returns.
    assert good.auc == 1.0 and good.agreement == 1.0
    bad = check_judge(ScriptedJudge(lambda t, q: -q.segments[0].true_return), TASK, probes, oracle=OracleJudge())
    assert bad.auc == 0.0 and bad.agreement == 0.0 and bad.overall == "fail"
    verdict = check_judge(scripted_from_true_return(), TASK, probes, oracle=OracleJudge())
    assert verdict.agreement == 1.0 and verdict.auc == 1.0 and verdict.overall == "pass"


def test_rank_auc_matches_brute_force_with_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=80).astype(float)
    pos = rng.random(80) < 0.4
    brute = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a in scores[pos] for b in scores[~pos]])
    assert rank_auc(scores, pos) == pytest.approx(brute)
    assert rank_auc(scores, np.ones(80, dtype=bool)) is None


def test_cost_tokens_and_projection() -> None:
    def paid(task: TaskSpec, q: Query) -> Label:
        prov = Provenance("paid", "m", tokens_in=100, tokens_out=5, cost_usd=0.002, latency_s=0.25)
        return Label(
            q.key, "ok", prov, preference=1.0 if q.segments[0].true_return > q.segments[1].true_return else 0.0
        )

    rep = check_judge(ScriptedJudge(paid), TASK, pair_probes(10), planned_labels=1000)
    assert rep.tokens_in_per_label == 100 and rep.tokens_out_per_label == 5
    assert rep.cost_per_label_usd == pytest.approx(0.002) and rep.projected_cost_usd == pytest.approx(2.0)
    assert rep.latency_p50_s == pytest.approx(0.25)
    d = rep.as_dict()
    json.dumps(d)
    assert all(k.startswith("preflight/") for k in d)
    assert d["preflight/projected_cost_usd"] == pytest.approx(2.0) and d["preflight/verdict/invalid_rate"] == "pass"
    table = rep.as_table()
    assert "projected_cost_usd" in table and "overall" in table and rep.judge_id in table
    header, first = table.splitlines()[1:3]
    assert first.startswith("invalid_rate") and header.index("verdict") == first.index("pass")  # aligned columns


# --- contract violations ---------------------------------------------------


class Broken:
    """A judge whose output is post-processed to break the contract in one way."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.inner = scripted_from_true_return()
        self.n_id = 0

    @property
    def id(self) -> str:
        self.n_id += 1
        if self.mode == "empty_id":
            return ""
        return f"broken-{self.n_id}" if self.mode == "unstable_id" else "broken"

    def judge(self, task: TaskSpec, queries: Sequence[Query], on_label: OnLabel | None = None) -> list[Label]:
        labels = self.inner.judge(task, queries)
        if self.mode == "short":
            labels = labels[:-1]
        elif self.mode == "wrong_key":
            labels[0] = Label("nope", "ok", labels[0].provenance, preference=1.0)
        elif self.mode == "reordered":
            labels = labels[::-1]
        elif self.mode == "bad_status":
            labels[0] = Label(labels[0].query_key, "maybe", labels[0].provenance)  # type: ignore[arg-type]
        elif self.mode == "value_for_pair":
            labels[0] = Label(labels[0].query_key, "ok", labels[0].provenance, value=1.0)
        elif self.mode == "nan":
            labels[0] = Label(labels[0].query_key, "ok", labels[0].provenance, value=float("nan"))
        if on_label is not None and self.mode != "no_callback":
            for q, lab in zip(queries, labels, strict=False):
                on_label(q, lab)
        return labels


@pytest.mark.parametrize(
    ("mode", "kind", "match"),
    [
        ("short", "pairwise", "labels for"),
        ("wrong_key", "pairwise", "query_key"),
        ("reordered", "pairwise", "query order"),
        ("bad_status", "pairwise", "status"),
        ("value_for_pair", "pairwise", "preference"),
        ("nan", "pointwise", "finite value"),
        ("no_callback", "pairwise", "on_label"),
        ("empty_id", "pairwise", "non-empty"),
        ("unstable_id", "pairwise", "id changed"),
        ("unstable_id", "pointwise", "id changed"),
    ],
)
def test_contract_violations_are_caught(mode: str, kind: str, match: str) -> None:
    probes = pair_probes(4) if kind == "pairwise" else point_probes(4)
    with pytest.raises(JudgeContractError, match=match):
        check_judge(Broken(mode), TASK, probes)


def test_bad_probe_sets() -> None:
    with pytest.raises(ValueError, match="at least one"):
        check_judge(OracleJudge(), TASK, [])
    with pytest.raises(ValueError, match="one kind"):
        check_judge(OracleJudge(), TASK, pair_probes(1) + point_probes(1))
