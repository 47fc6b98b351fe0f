"""Oracle judge: noise rates, ordering of noise models, determinism by (seed, key)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from judgerl.config import OracleNoiseConfig
from judgerl.judges.base import Judge
from judgerl.judges.oracle import OracleJudge
from judgerl.types import Query, Segment, TaskSpec

_counter = itertools.count()


def seg(ret: float, t: int = 4, truth: bool | None = None) -> Segment:
    """A segment with random observations (unique key) and true return ``ret``."""
    rng = np.random.default_rng(next(_counter))
    return Segment(
        obs=rng.normal(size=(t, 3)).astype(np.float32),
        acts=rng.normal(size=(t, 1)).astype(np.float32),
        env_rewards=np.full(t, ret / t, dtype=np.float32),
        dones=np.zeros(t, dtype=np.float32),
        truth={} if truth is None else {"good": float(truth)},
    )


def tiny_task(with_verdict: bool = True) -> TaskSpec:
    return TaskSpec(
        id="test/tiny-v0",
        instruction="Be good.",
        env_id="Tiny-v0",
        captioner=lambda o: "a state",
        success=lambda r, o: r > 0,
        question="Is it good?",
        oracle_verdict=(lambda s: s.truth["good"] > 0.5) if with_verdict else None,
    )


def pairs(diffs: list[float]) -> list[Query]:
    return [Query("pairwise", (seg(d), seg(0.0))) for d in diffs]


def prefs(judge: OracleJudge, queries: list[Query]) -> np.ndarray:
    return np.array([lab.preference for lab in judge.judge(tiny_task(), queries)], dtype=float)


def within(rate: float, p: float, n: int, k: float = 3.5) -> bool:
    return abs(rate - p) <= k * math.sqrt(p * (1 - p) / n)


def test_is_a_judge_with_stable_id() -> None:
    j = OracleJudge(OracleNoiseConfig(flip_prob=0.1), seed=3)
    assert isinstance(j, Judge)
    assert j.id == j.id == OracleJudge(OracleNoiseConfig(flip_prob=0.1), seed=3).id
    assert j.id.startswith("oracle-")
    assert j.id != OracleJudge(OracleNoiseConfig(flip_prob=0.2), seed=3).id
    assert j.id != OracleJudge(OracleNoiseConfig(flip_prob=0.1), seed=4).id


def test_noiseless_prefers_higher_return_and_marks_provenance() -> None:
    qs = pairs([5.0, -5.0, 0.0])
    labels = OracleJudge().judge(tiny_task(), qs)
    assert [lab.preference for lab in labels] == [1.0, 0.0, 0.5]
    for q, lab in zip(qs, labels, strict=True):
        assert lab.status == "ok" and lab.query_key == q.key
        assert lab.provenance.is_oracle and lab.provenance.model == "oracle"
        assert lab.provenance.raw_response.startswith("R_A=")
    assert labels[0].provenance.raw_response.endswith("-> A")


@pytest.mark.parametrize("seed", [0, 1])
def test_flip_rate(seed: int) -> None:
    rng = np.random.default_rng(seed)
    diffs = list(rng.choice([-1.0, 1.0], size=4000) * rng.uniform(0.5, 3.0, size=4000))
    p = prefs(OracleJudge(OracleNoiseConfig(flip_prob=0.2), seed=seed), pairs(diffs))
    flipped = np.mean((p == 1.0) != (np.array(diffs) > 0))
    assert within(flipped, 0.2, 4000)


@pytest.mark.parametrize("diff", [-2.0, -0.5, 0.7, 2.5])
def test_boltzmann_matches_sigmoid(diff: float) -> None:
    temperature, n = 1.5, 2000
    p = prefs(OracleJudge(OracleNoiseConfig(temperature=temperature), seed=7), pairs([diff] * n))
    assert set(np.unique(p)) <= {0.0, 1.0}  # hard labels
    expected = 1.0 / (1.0 + math.exp(-diff / temperature))
    assert within(float(p.mean()), expected, n)


def test_huge_return_gap_does_not_overflow() -> None:
    p = prefs(OracleJudge(OracleNoiseConfig(temperature=0.01)), pairs([-1e4, 1e4]))
    assert list(p) == [0.0, 1.0]


def test_ties_within_threshold_even_with_temperature() -> None:
    j = OracleJudge(OracleNoiseConfig(tie_threshold=1.0, temperature=0.5))
    p = prefs(j, pairs([0.5, -1.0, 1.0] * 50))
    assert np.all(p == 0.5)
    p = prefs(OracleJudge(OracleNoiseConfig(tie_threshold=1.0)), pairs([1.5, -1.5]))
    assert list(p) == [1.0, 0.0]


@pytest.mark.parametrize("bias", [0.3, -0.3])
def test_position_bias_answers_by_position(bias: float) -> None:
    n = 3000
    # Truth is always the other segment than the biased one, so every biased
    # answer is visible as a wrong one.
    diff = -2.0 if bias > 0 else 2.0
    p = prefs(OracleJudge(OracleNoiseConfig(position_bias=bias), seed=1), pairs([diff] * n))
    biased_answer = 1.0 if bias > 0 else 0.0
    assert within(float(np.mean(p == biased_answer)), abs(bias), n)
    # When the truth agrees with the position, the bias changes nothing.
    p = prefs(OracleJudge(OracleNoiseConfig(position_bias=bias), seed=1), pairs([-diff] * 200))
    assert np.all(p == biased_answer)


def test_position_bias_overrides_ties_then_flip_applies() -> None:
    cfg = OracleNoiseConfig(tie_threshold=10.0, position_bias=1.0, flip_prob=1.0)
    p = prefs(OracleJudge(cfg), pairs([1.0, -1.0]))
    assert list(p) == [0.0, 0.0]  # tie -> first shown (1.0) -> flipped
    p = prefs(OracleJudge(OracleNoiseConfig(tie_threshold=10.0, flip_prob=1.0)), pairs([1.0]))
    assert list(p) == [0.5]  # a flipped tie stays a tie


@pytest.mark.parametrize("kind", ["pointwise", "episode"])
def test_verdict_false_positive_and_negative_rates(kind: str) -> None:
    n = 3000
    truths = [i % 2 == 0 for i in range(n)]
    qs = [Query(kind, (seg(0.0, truth=t),)) for t in truths]  # type: ignore[arg-type]
    j = OracleJudge(OracleNoiseConfig(false_positive_rate=0.1, false_negative_rate=0.25, flip_prob=1.0), seed=2)
    labels = j.judge(tiny_task(), qs)
    v = np.array([lab.value for lab in labels])
    t = np.array(truths)
    assert set(np.unique(v)) <= {0.0, 1.0}
    assert all(lab.preference is None for lab in labels)
    assert within(float(np.mean(v[~t] == 1.0)), 0.1, n // 2)  # P(yes | truly no)
    assert within(float(np.mean(v[t] == 0.0)), 0.25, n // 2)  # P(no | truly yes); flip_prob ignored
    clean = OracleJudge().judge(tiny_task(), qs[:20])
    assert [lab.value for lab in clean] == [1.0 if x else 0.0 for x in truths[:20]]


def test_verdict_without_task_verdict_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="oracle_verdict"):
        OracleJudge().judge(tiny_task(with_verdict=False), [Query("episode", (seg(1.0),))])


def test_labels_depend_on_seed_and_key_not_batch_order() -> None:
    cfg = OracleNoiseConfig(temperature=2.0, flip_prob=0.3, position_bias=0.2)
    qs = pairs(list(np.linspace(-3, 3, 200)))
    a = OracleJudge(cfg, seed=5).judge(tiny_task(), qs)
    order = np.random.default_rng(0).permutation(len(qs))
    b = OracleJudge(cfg, seed=5).judge(tiny_task(), [qs[i] for i in order])
    by_key = {lab.query_key: lab.preference for lab in b}
    assert [lab.preference for lab in a] == [by_key[q.key] for q in qs]
    # Asking one at a time (a resumed run) gives the same answers.
    single = [OracleJudge(cfg, seed=5).judge(tiny_task(), [q])[0].preference for q in qs[:30]]
    assert single == [lab.preference for lab in a[:30]]
    c = OracleJudge(cfg, seed=6).judge(tiny_task(), qs)
    assert [lab.preference for lab in a] != [lab.preference for lab in c]


def test_on_label_called_once_per_query_in_order() -> None:
    qs = pairs([1.0, 2.0, -1.0])
    seen: list[str] = []
    labels = OracleJudge().judge(tiny_task(), qs, lambda q, lab: seen.append(q.key))
    assert seen == [q.key for q in qs] == [lab.query_key for lab in labels]
