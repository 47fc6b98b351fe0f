"""How the preflight compares a judge's answers with a reference judge's (split from ``check.py``).

Two pairwise answers that pick the same segment (or are both ties) score 1,
opposite picks 0, a tie beside a pick 0.5 ("ties count as half"); one-item
values are compared by rank AUC against the reference verdict, and continuous
pointwise scores by the order of the pairs they imply.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
    from scipy.stats import rankdata  # here: scipy.stats costs ~0.6 s of every `judgerl run`'s start

    ranks = rankdata(scores)  # average ranks handle ties
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


MAX_ORDER_ITEMS = 2000
"""``pair_order_agreement`` compares all pairs of at most this many items (a fixed subsample beyond)."""


def pair_order_agreement(values: np.ndarray, returns: np.ndarray) -> float | None:
    """Share of item pairs with different true returns that the values order the same way (ties in values half).

    This is how continuous pointwise scores become reward-model targets (the
    pointwise form derives pairs from them), so it is their agreement with the
    oracle; a threshold would judge a scale that has none.

    Args:
        values: Judge scores, shape ``(N,)``.
        returns: True returns of the same items, shape ``(N,)``.

    Returns:
        Agreement in [0, 1]; ``None`` when no pair differs in true return. Beyond
        :data:`MAX_ORDER_ITEMS` items, a fixed (seeded) subsample of that many.
    """
    values, returns = np.asarray(values, np.float64), np.asarray(returns, np.float64)
    if len(values) > MAX_ORDER_ITEMS:
        keep = np.random.default_rng(0).choice(len(values), MAX_ORDER_ITEMS, replace=False)
        values, returns = values[keep], returns[keep]
    dv = np.sign(values[:, None] - values[None, :])
    dr = np.sign(returns[:, None] - returns[None, :])
    mask = np.triu(dr != 0, k=1)
    if not mask.any():
        return None
    return float(np.mean(np.where(dv[mask] == 0, 0.5, dv[mask] == dr[mask])))


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
        agreement = pair_order_agreement(values, returns)
    return agreement, len(idx), auc
