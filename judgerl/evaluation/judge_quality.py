"""How the judge's answers on the run's own queries compare with the oracle: confusion, calibration, position bias.

The preflight grades a judge on probes before the run; these numbers measure
the labels the reward was actually fitted on, against the ground truth stored
with every segment (``Segment.truth``, never shown to a model judge). They are
logged each iteration (stage ``judge``, cumulative over the run's labels so
far) so ``metrics.jsonl``, TensorBoard and the report see the same values.

* Pairwise queries: the oracle prefers the segment with the higher true return
  (a tie when equal); the judge picks the side its preference leans to.
  Agreement counts ties as half, as the preflight does
  (``judgerl.judges.check_compare.pair_score``).
* Pointwise/episode queries with a task verdict (``TaskSpec.oracle_verdict``):
  the judge's value becomes a verdict on its value scale
  (``judgerl.forms.episode.to_verdicts``) for the confusion counts, and the
  AUC of the raw values against the oracle verdict is reported too. The
  agreement is the verdicts' accuracy, except for continuous pointwise scores
  (similarities, margins): those become reward targets as the pairs they
  order, so their agreement is the share of pairs with different true returns
  that they order the same way, as in the preflight
  (``judgerl.judges.check_compare.pair_order_agreement``). A threshold (Otsu's,
  for similarities) would grade a cut the reward never uses (at the demo's
  iteration 0 it gave 0.29 for a judge whose ranking was good).
* Calibration: answers are put in 5 bins (preferences and probabilities by
  value on [0, 1]; margins and similarities, which have no fixed scale, in 5
  equal-count bins) and each bin's mean judge value is set against how often
  the oracle said "first" / "yes" there (ties half).
* Position bias (single-order pairwise answers): the share of decisive answers
  that picked the segment shown first; 0.5 is unbiased on random pairs.
  Answers combined from both orders are left out (``judge/swap_disagreement_rate``
  of ``BothOrders`` measures those).

``caption_pairs`` has no ground truth (its reference is a proxy, see the
preflight), so only the position bias is given for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from judgerl.forms.episode import to_verdicts
from judgerl.forms.registry import is_pair
from judgerl.judges.check_compare import pair_order_agreement, pair_score, rank_auc
from judgerl.types import Label, Query, TaskSpec

BINS = 5
"""Calibration bins."""

_SIDES = ("a", "b", "tie")


def _side(p: float) -> str:
    return "a" if p > 0.5 else ("b" if p < 0.5 else "tie")


def _calibration(pred: np.ndarray, outcome: np.ndarray, fixed_scale: bool) -> dict[str, float]:
    """``judge/calib_<i>_{pred,oracle,n}`` for up to :data:`BINS` bins (empty bins left out)."""
    if len(pred) == 0:
        return {}
    if fixed_scale:
        edges = np.linspace(0.0, 1.0, BINS + 1)
    else:
        edges = np.unique(np.quantile(pred, np.linspace(0.0, 1.0, BINS + 1)))
    which = np.clip(np.searchsorted(edges, pred, side="right") - 1, 0, len(edges) - 2)
    out: dict[str, float] = {}
    for i in range(len(edges) - 1):
        sel = which == i
        if sel.any():
            out[f"judge/calib_{i}_pred"] = float(pred[sel].mean())
            out[f"judge/calib_{i}_oracle"] = float(outcome[sel].mean())
            out[f"judge/calib_{i}_n"] = float(sel.sum())
    return out


def _pairwise(rows: Sequence[tuple[Query, Label]]) -> dict[str, float]:
    counts = {f"judge/confusion_{j}_{o}": 0.0 for j in _SIDES for o in _SIDES}
    prefs, outcome, scores = [], [], []
    for q, lab in rows:
        a, b = q.segments
        diff = a.true_return - b.true_return
        oracle = 1.0 if diff > 0 else (0.0 if diff < 0 else 0.5)
        p = float(lab.preference)  # type: ignore[arg-type]
        counts[f"judge/confusion_{_side(p)}_{_side(oracle)}"] += 1.0
        prefs.append(p)
        outcome.append(oracle)
        scores.append(pair_score(p, oracle))
    out = {**counts, "judge/oracle_n": float(len(rows)), "judge/oracle_agreement": float(np.mean(scores))}
    out.update(_calibration(np.asarray(prefs), np.asarray(outcome), fixed_scale=True))
    return out


def _verdicts(rows: Sequence[tuple[Query, Label]], task: TaskSpec, scale: str) -> dict[str, float]:
    assert task.oracle_verdict is not None
    values = np.array([float(lab.value) for _, lab in rows], np.float64)  # type: ignore[arg-type]
    truth = np.array([bool(task.oracle_verdict(q.segments[0])) for q, _ in rows])
    verdict = to_verdicts(values, scale) >= 0.5  # type: ignore[arg-type]
    out: dict[str, float] = {}
    for j, jv in (("yes", True), ("no", False)):
        for o, ov in (("yes", True), ("no", False)):
            out[f"judge/confusion_{j}_{o}"] = float(np.sum((verdict == jv) & (truth == ov)))
    out["judge/oracle_n"] = float(len(rows))
    out["judge/oracle_agreement"] = float(np.mean(verdict == truth))
    continuous = not np.all((values == 0.0) | (values == 1.0))
    if rows[0][0].kind == "pointwise" and scale in ("similarity", "margin") and continuous:
        returns = np.array([q.segments[0].true_return for q, _ in rows], np.float64)
        order = pair_order_agreement(values, returns)
        if order is None:
            del out["judge/oracle_agreement"]
        else:
            out["judge/oracle_agreement"] = order
    auc = rank_auc(values, truth)
    if auc is not None:
        out["judge/oracle_auc"] = auc
    out.update(_calibration(values, truth.astype(np.float64), fixed_scale=scale == "probability"))
    return out


def _position(rows: Sequence[tuple[Query, Label]]) -> dict[str, float]:
    picks = []
    for _, lab in rows:
        p = float(lab.preference)  # type: ignore[arg-type]
        if p == 0.5 or lab.provenance.raw_response.startswith("[A,B]"):
            continue  # a tie picks no position; a both-orders answer was shown in both
        picks.append((p > 0.5) != lab.provenance.swapped)
    if not picks:
        return {}
    return {"judge/first_shown_rate": float(np.mean(picks)), "judge/position_n": float(len(picks))}


def judge_vs_oracle(rows: Sequence[tuple[Query, Label]], task: TaskSpec, scale: str) -> dict[str, float]:
    """Confusion counts, agreement, AUC, calibration bins and position bias of ``ok`` labels against the oracle.

    Args:
        rows: ``(query, label)`` pairs (``LabelStore.labelled``); labels other
            than ``ok`` and without a value are skipped.
        task: The task (its ``oracle_verdict`` grades one-item queries).
        scale: The judge's value scale (``judgerl.judges.factory.value_scale``).

    Returns:
        ``judge/...`` metrics (see docs/metrics.md); empty when nothing can be compared.
    """
    ok = [(q, lab) for q, lab in rows if lab.status == "ok"]
    if not ok:
        return {}
    kind = ok[0][0].kind
    if is_pair(kind):
        paired = [(q, lab) for q, lab in ok if lab.preference is not None]
        out = _position(paired)
        if kind == "pairwise" and paired:
            out.update(_pairwise(paired))
        return out
    valued = [(q, lab) for q, lab in ok if lab.value is not None and np.isfinite(lab.value)]
    if task.oracle_verdict is None or not valued:
        return {}
    return _verdicts(valued, task, scale)
