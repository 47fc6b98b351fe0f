"""How the preflight compares a judge's answers with a reference judge's (split from ``check.py``).

Two pairwise answers that pick the same segment (or are both ties) score 1,
opposite picks 0, a tie beside a pick 0.5 ("ties count as half"); one-item
values are compared by rank AUC against the reference verdict, and continuous
pointwise scores by the order of the pairs they imply.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

from judgerl.forms.registry import is_pair
from judgerl.types import Label, Query, QueryKind


def _side(p: float) -> int:
    return 1 if p > 0.5 else (-1 if p < 0.5 else 0)


def pair_score(p: float, q: float) -> float:
    """Agreement of two preferences for A: 1 same pick or both ties, 0 opposite, 0.5 tie vs pick."""
    a, b = _side(p), _side(q)
    if a == b:
        return 1.0
    return 0.5 if 0 in (a, b) else 0.0


def rank_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Rank-based (Mann–Whitney) AUC with average ranks for tied scores.

    Args:
        scores: Judge values, shape ``(N,)``.
        positive: True verdicts, shape ``(N,)`` bool.

    Returns:
        P(score of a random positive > score of a random negative), ties counting
        half; ``None`` when there is no positive or no negative.
    """
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)  # average ranks handle ties
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def compare_labels(
    kind: QueryKind, labels: list[Label], truth: list[Label], probes: Sequence[Query]
) -> tuple[float | None, int, float | None]:
    """Agreement (ties half), number compared, and AUC (non-pairwise) of judge labels vs oracle labels.

    Pairwise: agreement of each answer with the oracle's. Pointwise/episode with
    yes/no values (all 0 or 1): agreement of the verdicts. Pointwise with
    continuous scores (log-prob margins, similarities have no natural
    threshold): agreement of the *pairs derived from the scores* with the true
    returns, i.e. the share of probe pairs with different true returns that the
    scores order the same way — exactly how such scores become reward-model
    targets (the pointwise form, judgerl/forms/pointwise.py).
    """
    idx = [i for i, (a, b) in enumerate(zip(labels, truth, strict=True)) if a.status == "ok" and b.status == "ok"]
    if not idx:
        return None, 0, None
    if is_pair(kind):
        scores = [pair_score(labels[i].preference, truth[i].preference) for i in idx]  # type: ignore[arg-type]
        return float(np.mean(scores)), len(idx), None
    values = np.array([labels[i].value for i in idx], dtype=float)
    # Oracle values are verdicts, 1.0 = yes.
    positive = np.array([truth[i].value for i in idx], dtype=float) >= 0.5
    auc = rank_auc(values, positive)
    agreement: float | None
    if np.all((values == 0.0) | (values == 1.0)):
        agreement = float(np.mean((values >= 0.5) == positive))
    elif kind == "episode":
        # Episode verdicts are about the verdict, not the task return: AUC is the measure.
        agreement = None
    else:
        returns = np.array([probes[i].segments[0].true_return for i in idx], dtype=float)
        dv = np.sign(values[:, None] - values[None, :])
        dr = np.sign(returns[:, None] - returns[None, :])
        mask = np.triu(dr != 0, k=1)
        agreement = float(np.mean(np.where(dv[mask] == 0, 0.5, dv[mask] == dr[mask]))) if mask.any() else None
    return agreement, len(idx), auc
