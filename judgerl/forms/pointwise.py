"""The pointwise form: one segment, a score (e.g. a yes/no log-prob margin or a similarity).

Scores from models are rarely calibrated, so the reward model trusts only
their *order*: pairs of scored segments become Bradley–Terry targets (an idea
also behind RL-VLM-F and Motif asking for comparisons). The train/validation
split is made per *segment* before pairing, so no segment sits on both sides
and validation accuracy measures generalisation to unseen segments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from judgerl.forms.base import PreferenceTargets, QueryPlan, TargetKind, TargetPlan, split_by_key, value_label
from judgerl.forms.pairwise import segment_pool
from judgerl.queries.samplers import RandomSingles
from judgerl.types import Episode, Label, Provenance, Query, Segment


def derive_pairs(
    scored: Sequence[tuple[Segment, float]], rng: np.random.Generator, pairs_per_score: int
) -> tuple[list[Segment], list[Segment], list[float]]:
    """Random pairs of distinct scored segments, hard targets from the score order (equal scores: 0.5).

    Returns:
        ``(first, second, prefs)``, about ``len(scored) * pairs_per_score / 2`` pairs.
    """
    n = len(scored)
    if n < 2:
        return [], [], []
    m = max(1, n * pairs_per_score // 2)
    i = rng.integers(0, n, size=m)
    j = (i + rng.integers(1, n, size=m)) % n  # never pair a segment with itself
    first, second, prefs = [], [], []
    for a, b in zip(i, j, strict=True):
        diff = scored[a][1] - scored[b][1]
        first.append(scored[a][0])
        second.append(scored[b][0])
        prefs.append(1.0 if diff > 0 else 0.0 if diff < 0 else 0.5)
    return first, second, prefs


class PointwiseForm:
    """One segment per query; the answer is a score; targets are pairs in score order."""

    name: str = "pointwise"
    arity: int = 1
    targets_kind: TargetKind = "preferences"

    def queries(self, episodes: Sequence[Episode], n: int, rng: np.random.Generator, plan: QueryPlan) -> list[Query]:
        """Up to ``n`` queries about distinct random segments."""
        if plan.sampler != "random":
            raise ValueError("the pointwise form samples segments at random (query.sampler=random)")
        return RandomSingles(self.name).sample(segment_pool(episodes, n, rng, plan), n, rng)

    def label(self, query: Query, answer: float | None, provenance: Provenance) -> Label:
        """``ok`` with ``value=answer`` when it is a finite number, else ``failed``."""
        return value_label(query, answer, provenance, "score")

    def targets(
        self, labelled: Sequence[tuple[Query, Label]], rng: np.random.Generator, plan: TargetPlan
    ) -> PreferenceTargets:
        """Derived pairs, split by segment: train pairs join train segments, validation pairs val segments."""
        scored: dict[str, tuple[Segment, float]] = {}
        for q, lab in labelled:
            if q.kind == self.name and lab.status == "ok" and lab.value is not None:
                seg = q.segments[0]
                scored.setdefault(seg.key, (seg, float(lab.value)))
        keys = list(scored)
        val_seg = split_by_key(keys, plan.val_fraction)
        first: list[Segment] = []
        second: list[Segment] = []
        prefs: list[float] = []
        val: list[bool] = []
        for side in (False, True):
            items = [scored[k] for k, v in zip(keys, val_seg, strict=True) if v == side]
            a, b, p = derive_pairs(items, rng, plan.pairs_per_score)
            first += a
            second += b
            prefs += p
            val += [side] * len(p)
        return PreferenceTargets(
            first=tuple(first),
            second=tuple(second),
            prefs=np.asarray(prefs, np.float32),
            val=np.asarray(val, bool),
            keys=tuple(f"{x.key}>{y.key}" for x, y in zip(first, second, strict=True)),
        )
