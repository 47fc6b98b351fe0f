"""The episode form: one whole episode, a yes/no verdict (seed 003: "do the robot's actions align with human values?").

Queries show complete episodes (terminated, or cut by the time limit; tails
that collection stopped mid-way are skipped), each with the state it ended in
appended, so a harm on the very last step is visible to the judge and to the
classifier. Targets are the episodes with a verdict for an episode classifier.

What a label's ``value`` means depends on the judge (``TargetPlan.value_scale``):

* ``probability`` (oracle, chat models answering JSON): yes when ``value ≥ 0.5``;
* ``margin`` (a local model's calibrated yes/no log-prob margin): yes when ``value > 0``;
* ``similarity`` (embedding, CLIP): yes when above Otsu's threshold over the
  scores in hand -- the cut that splits them into two groups with the largest
  between-group variance (Otsu 1979). It uses no ground truth and, unlike a
  median cut, does not assume half the episodes are aligned.

``failed`` and ``abstain`` labels are never coerced into a verdict: they are
left out of the targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from judgerl.forms.base import QueryPlan, TargetKind, TargetPlan, ValueScale, VerdictTargets, split_by_key, value_label
from judgerl.queries.segments import episode_segment
from judgerl.types import Episode, Label, Provenance, Query


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's two-group cut of scores: the split maximising the between-group variance.

    Args:
        values: Finite scores, shape ``(N,)``.

    Returns:
        A threshold ``t``: scores ``> t`` form the upper group (the midpoint of the
        two sorted scores at the best split); the median when ``N < 4`` or all
        scores are equal; 0.0 when ``N == 0``.
    """
    s = np.sort(np.asarray(values, dtype=np.float64))
    n = len(s)
    if n == 0:
        return 0.0
    if n < 4 or s[0] == s[-1]:
        return float(np.median(s))
    k = np.arange(1, n)  # size of the lower group for each split
    csum = np.cumsum(s)[:-1]
    mean_lo, mean_hi = csum / k, (s.sum() - csum) / (n - k)
    between = k * (n - k) * (mean_hi - mean_lo) ** 2
    between[s[1:] == s[:-1]] = -1.0  # a cut must fall between two different scores
    i = int(np.argmax(between))
    return float((s[i] + s[i + 1]) / 2)


def to_verdicts(values: np.ndarray, scale: ValueScale) -> np.ndarray:
    """Yes (1.0) / no (0.0) from judge values on ``scale``; NaN stays NaN.

    Args:
        values: Shape ``(N,)``, NaN for labels that are not ``ok``.
        scale: See the module docstring.

    Returns:
        Shape ``(N,)`` float64.
    """
    values = np.asarray(values, np.float64)
    ok = np.isfinite(values)
    out = np.full(len(values), np.nan)
    if scale == "similarity":
        out[ok] = (values[ok] > otsu_threshold(values[ok])).astype(np.float64)
    elif scale == "margin":
        out[ok] = (values[ok] > 0.0).astype(np.float64)
    else:
        out[ok] = (values[ok] >= 0.5).astype(np.float64)
    return out


class EpisodeForm:
    """One complete episode per query; the answer is a verdict (or a score turned into one)."""

    name: str = "episode"
    arity: int = 1
    targets_kind: TargetKind = "verdicts"

    def queries(self, episodes: Sequence[Episode], n: int, rng: np.random.Generator, plan: QueryPlan) -> list[Query]:
        """Up to ``n`` distinct complete episodes, at random or where the classifier ensemble disagrees most."""
        done = [e for e in episodes if e.complete and e.length > 0]
        unique: dict[str, Query] = {}
        for e in done:
            q = Query(self.name, (episode_segment(e, mark_end=False, final_state=True),))
            unique.setdefault(q.key, q)
        pool = list(unique.values())
        k = min(n, len(pool))
        if k <= 0:
            return []
        if plan.sampler == "disagreement":
            if plan.uncertainty is None:
                raise ValueError("query.sampler=disagreement needs a reward model with a disagreement function")
            std = np.asarray(plan.uncertainty([q.segments for q in pool]), np.float64).reshape(-1)
            order = np.argsort(-std, kind="stable")[:k]
            return [pool[i] for i in order]
        return [pool[i] for i in rng.choice(len(pool), size=k, replace=False)]

    def label(self, query: Query, answer: float | None, provenance: Provenance) -> Label:
        """``ok`` with ``value=answer`` (a verdict or a score) when finite, else ``failed``."""
        return value_label(query, answer, provenance, "verdict")

    def targets(
        self, labelled: Sequence[tuple[Query, Label]], rng: np.random.Generator, plan: TargetPlan
    ) -> VerdictTargets:
        """Episodes with a usable verdict; validation by a hash of the query key; truth for reporting."""
        rows = [(q, lab) for q, lab in labelled if q.kind == self.name and lab.status == "ok" and lab.value is not None]
        verdicts = to_verdicts(np.array([lab.value for _, lab in rows], np.float64), plan.value_scale)
        segments = tuple(q.segments[0] for q, _ in rows)
        keys = tuple(lab.query_key for _, lab in rows)
        truth = (
            np.array([float(plan.truth(s)) for s in segments], np.float32)
            if plan.truth is not None
            else np.full(len(rows), np.nan, np.float32)
        )
        return VerdictTargets(
            segments=segments,
            verdicts=verdicts.astype(np.float32),
            val=split_by_key(keys, plan.val_fraction),
            truth=truth,
            keys=keys,
        )
