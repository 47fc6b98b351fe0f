"""Judge against oracle on a run's labels: confusion, agreement, position bias, calibration bins."""

from __future__ import annotations

import pytest

from judgerl.evaluation.judge_quality import judge_vs_oracle
from judgerl.testing.fixtures import make_segment, tiny_task
from judgerl.types import Label, Provenance, Query


def pair(ret_a: float, ret_b: float, pref: float, swapped: bool = False, raw: str = "") -> tuple[Query, Label]:
    q = Query("pairwise", (make_segment(ret_a), make_segment(ret_b)))
    return q, Label(q.key, "ok", preference=pref, provenance=Provenance("j", "m", raw_response=raw, swapped=swapped))


def one(ret: float, value: float, status: str = "ok") -> tuple[Query, Label]:
    q = Query("pointwise", (make_segment(ret),))
    return q, Label(q.key, status, value=value, provenance=Provenance("j", "m"))


def test_pairwise_confusion_agreement_and_position_bias() -> None:
    rows = [
        pair(2.0, 1.0, 1.0),  # right, picks the first shown
        pair(1.0, 2.0, 0.0),  # right, second
        pair(1.0, 2.0, 1.0),  # wrong, first
        pair(2.0, 1.0, 0.5),  # tie against a pick: half
        pair(1.0, 2.0, 1.0, swapped=True),  # wrong; shown B first, so it picked the second shown
        pair(2.0, 1.0, 1.0, raw="[A,B] x\n[B,A] y"),  # both orders: counts for agreement, not position
    ]
    m = judge_vs_oracle(rows, tiny_task(), "probability")
    assert m["judge/oracle_n"] == 6
    assert m["judge/confusion_a_a"] == 2 and m["judge/confusion_b_b"] == 1 and m["judge/confusion_a_b"] == 2
    assert m["judge/confusion_tie_a"] == 1 and m["judge/confusion_b_a"] == 0
    assert m["judge/oracle_agreement"] == pytest.approx((3 + 0.5) / 6)
    # Position: 4 decisive single-order answers, the first shown picked in 2 (rows 1 and 3).
    assert m["judge/position_n"] == 4 and m["judge/first_shown_rate"] == pytest.approx(0.5)
    # Fixed-scale bins on [0, 1]: p=0 -> bin 0, p=0.5 -> bin 2, p=1 -> bin 4.
    assert (m["judge/calib_0_n"], m["judge/calib_2_n"], m["judge/calib_4_n"]) == (1, 1, 4)
    assert m["judge/calib_4_oracle"] == pytest.approx(2 / 4) and "judge/calib_1_n" not in m


def test_pointwise_verdicts_auc_and_equal_count_bins_for_scores() -> None:
    # Similarity scores: higher for the good segments except one; the oracle verdict is "true return > 0".
    rows = [one(1.0, 0.9), one(1.0, 0.8), one(-1.0, 0.85), one(-1.0, 0.1), one(-1.0, 0.2), one(1.0, 0.0, "failed")]
    m = judge_vs_oracle(rows, tiny_task(), "probability")
    assert m["judge/oracle_n"] == 5  # the failed label is left out
    assert m["judge/confusion_yes_yes"] == 2 and m["judge/confusion_yes_no"] == 1 and m["judge/confusion_no_no"] == 2
    assert m["judge/oracle_auc"] == pytest.approx(5 / 6)
    s = judge_vs_oracle(rows, tiny_task(), "similarity")
    assert sum(v for k, v in s.items() if k.endswith("_n") and "calib" in k) == 5
    assert all(0.0 <= s[k] <= 0.9 for k in s if k.endswith("_pred"))


def test_nothing_to_compare_gives_no_metrics() -> None:
    assert judge_vs_oracle([], tiny_task(), "probability") == {}
    assert judge_vs_oracle([one(1.0, 0.9)], tiny_task(verdict=False), "probability") == {}


def test_continuous_pointwise_scores_are_graded_by_the_pairs_they_order_not_a_threshold() -> None:
    # Scores that order every pair right but sit mostly above any middle cut: Otsu's threshold calls
    # most of them "yes" though only one segment is good by the oracle (true return > 0).
    rows = [one(1.0, 0.99), one(-0.2, 0.90), one(-0.5, 0.89), one(-0.8, 0.88), one(-1.0, 0.10)]
    s = judge_vs_oracle(rows, tiny_task(), "similarity")
    assert s["judge/oracle_agreement"] == pytest.approx(1.0)
    assert s["judge/oracle_auc"] == pytest.approx(1.0)
    # One pair of the ten out of order.
    rows[1], rows[2] = one(-0.2, 0.89), one(-0.5, 0.90)
    assert judge_vs_oracle(rows, tiny_task(), "similarity")["judge/oracle_agreement"] == pytest.approx(0.9)
    # Yes/no values on any scale stay graded as verdicts.
    yes_no = [one(1.0, 1.0), one(-1.0, 1.0), one(-1.0, 0.0)]
    assert judge_vs_oracle(yes_no, tiny_task(), "margin")["judge/oracle_agreement"] == pytest.approx(2 / 3)
