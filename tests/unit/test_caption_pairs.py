"""The caption_pairs form (Motif): sampling rules, the oracle's proxy, and two-item queries in the judges."""

from __future__ import annotations

import numpy as np
import pytest

from judgerl.forms import QueryPlan, TargetPlan, get_form, is_pair
from judgerl.forms.caption_pairs import PROXY_KEY, caption_segment, is_empty_caption, score_gain
from judgerl.forms.check import check_form
from judgerl.judges.both_orders import BothOrders, swapped
from judgerl.judges.check import check_judge
from judgerl.judges.oracle import OracleJudge
from judgerl.judges.scripted import ScriptedJudge, scripted_from_true_return
from judgerl.tasks import get_task
from judgerl.types import NO_MESSAGE, Episode, Query

FORM = get_form("caption_pairs")
TASK = get_task("cartpole/balance-v0")  # any task: the judges here read captions and truth only


def episode(captions: list[str], rewards: list[float] | None = None, eid: str = "e0") -> Episode:
    t = len(captions)
    obs = np.arange(t * 2, dtype=np.float32).reshape(t, 2) + hash(eid) % 97
    r = np.asarray(rewards if rewards is not None else [0.0] * t, np.float32)
    return Episode(
        obs=obs,
        acts=np.zeros((t, 1), np.float32),
        env_rewards=r,
        terminated=True,
        final_obs=obs[-1],
        captions=tuple(captions),
        episode_id=eid,
    )


MESSAGES = [f"You see here {k} gold pieces." for k in range(12)] + ["It's a wall."] * 20 + [NO_MESSAGE] * 30


def test_pairs_skip_identical_captions_and_repeats() -> None:
    eps = [episode(MESSAGES, eid="a"), episode(MESSAGES[::-1], eid="b")]
    queries = FORM.queries(eps, 40, np.random.default_rng(0), QueryPlan(empty_pair_share=0.0))
    assert queries and all(q.kind == "caption_pairs" and len(q.segments) == 2 for q in queries)
    pairs = [tuple(s.captions[0] for s in q.segments) for q in queries]
    assert all(a != b for a, b in pairs)
    assert len({frozenset(p) for p in pairs}) == len(pairs)  # no pair twice, in either order
    assert not any(NO_MESSAGE in p for p in pairs)  # empty messages only when configured
    assert all(s.length == 1 for q in queries for s in q.segments)


def test_a_configured_share_of_pairs_has_one_empty_message() -> None:
    eps = [episode(MESSAGES, eid="a")]
    queries = FORM.queries(eps, 10, np.random.default_rng(1), QueryPlan(empty_pair_share=0.3))
    with_empty = [q for q in queries if any(is_empty_caption(s.captions[0]) for s in q.segments)]
    assert len(with_empty) == 3
    assert all(sum(is_empty_caption(s.captions[0]) for s in q.segments) == 1 for q in with_empty)
    firsts = {is_empty_caption(q.segments[0].captions[0]) for q in with_empty}
    assert len(queries) == 10 and firsts  # the empty one may come first or second


def test_few_distinct_captions_give_fewer_queries_not_repeats() -> None:
    eps = [episode(["a", "b", "c", "a", "b", NO_MESSAGE])]
    queries = FORM.queries(eps, 20, np.random.default_rng(0), QueryPlan(empty_pair_share=0.5))
    pairs = {frozenset(s.captions[0] for s in q.segments) for q in queries}
    assert len(pairs) == len(queries) <= 6  # 3 pairs of distinct messages + 3 with the empty one


def test_score_gain_proxy_by_hand() -> None:
    ep = episode(["m0", "m1", "m2", "m3"], rewards=[-0.01, 5.0, -0.01, 2.0])
    # step t's message came from step t-1: its window starts there, penalties left out
    assert score_gain(ep, 0, window=2) == 5.0  # steps 0, 1
    assert score_gain(ep, 2, window=2) == 5.0  # steps 1, 2
    assert score_gain(ep, 3, window=2) == 2.0  # steps 2, 3
    assert caption_segment(ep, 3).truth[PROXY_KEY] == pytest.approx(2.0)


def test_the_form_keeps_the_contract_on_synthetic_episodes() -> None:
    check_form(FORM, [episode(MESSAGES, eid="a"), episode(MESSAGES[5:], eid="b")], QueryPlan())
    with pytest.raises(ValueError, match="random"):
        FORM.queries([episode(MESSAGES)], 3, np.random.default_rng(0), QueryPlan(sampler="disagreement"))


def _pair(gain_a: float, gain_b: float) -> Query:
    a = episode(["You kill the newt!"], rewards=[gain_a], eid="x")
    b = episode(["It's a wall."], rewards=[gain_b], eid="y")
    return Query("caption_pairs", (caption_segment(a, 0), caption_segment(b, 0)))


def test_oracle_and_scripted_judges_answer_by_the_documented_proxy() -> None:
    queries = [_pair(4.0, 0.0), _pair(0.0, 4.0), _pair(-0.01, 0.0)]
    labels = OracleJudge(seed=0).judge(TASK, queries)
    assert [lab.preference for lab in labels] == [1.0, 0.0, 0.5]  # a penalty is no score gain: a tie
    assert "score_gain_A" in labels[0].provenance.raw_response and labels[0].provenance.is_oracle
    scripted = scripted_from_true_return().judge(TASK, queries)
    assert [lab.preference for lab in scripted] == [1.0, 0.0, 0.5]


def test_two_item_forms_swap_and_combine_like_pairwise() -> None:
    assert is_pair("caption_pairs") and is_pair("pairwise") and not is_pair("pointwise")
    q = _pair(4.0, 0.0)
    s = swapped(q)
    assert s.kind == "caption_pairs" and s.segments == q.segments[::-1]
    label = BothOrders(OracleJudge(seed=0)).judge(TASK, [q])[0]
    assert label.status == "ok" and label.preference == 1.0


def test_preflight_reports_a_proxy_as_a_proxy() -> None:
    queries = [_pair(4.0, 0.0), _pair(0.0, 4.0), _pair(0.0, 0.0), _pair(1.0, 3.0)]
    # a judge that always prefers the first message: swap-inconsistent, half right on the proxy
    always_first = ScriptedJudge(lambda task, q: 1.0, name="first")
    report = check_judge(always_first, TASK, queries, oracle=OracleJudge(seed=0), proxy="score gain")
    assert report.agreement is None and report.proxy == "score gain"
    assert report.proxy_agreement == pytest.approx(1 / 3)  # compared on the 3 pairs the proxy does not tie
    assert report.n_compared == 3 and report.tie_rate == 0.0 and report.swap_consistency == 0.0
    assert "proxy_agreement" not in {c.name for c in report.checks}  # never graded
    assert "PROXY" in report.as_table()
    truthful = check_judge(OracleJudge(seed=0), TASK, queries, oracle=OracleJudge(seed=0), proxy="score gain")
    assert truthful.proxy_agreement == 1.0 and truthful.tie_rate == pytest.approx(0.25)


def test_targets_are_the_pairs() -> None:
    queries = [_pair(4.0, 0.0), _pair(0.0, 4.0)]
    labels = OracleJudge(seed=0).judge(TASK, queries)
    targets = FORM.targets(list(zip(queries, labels, strict=True)), np.random.default_rng(0), TargetPlan())
    assert len(targets) == 2 and targets.prefs.tolist() == [1.0, 0.0]
