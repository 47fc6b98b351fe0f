"""The pairwise form: two segments, "which shows more progress towards the goal?".

Queries are pairs of equal-length segments cut from the collected episodes
(random pairs, or the pairs the reward ensemble disagrees on most); an answer
is ``P(first better)`` in ``[0, 1]`` (0.5 = tie); targets are the pairs
themselves for a Bradley–Terry fit (Christiano et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from judgerl.forms.base import (
    PreferenceTargets,
    QueryPlan,
    TargetKind,
    TargetPlan,
    failed,
    split_by_key,
)
from judgerl.queries.samplers import DisagreementPairs, RandomPairs
from judgerl.queries.segments import cut_segments
from judgerl.types import Episode, Label, Provenance, Query, Segment


def segment_pool(episodes: Sequence[Episode], n_items: int, rng: np.random.Generator, plan: QueryPlan) -> list[Segment]:
    """Cut enough windows from ``episodes`` that ``n_items`` distinct segments can be drawn.

    Each episode gives at least one window per ``segment_length`` steps, and
    more when the episodes are few (about ``n_items`` in all).
    """
    if not episodes:
        return []
    longest = max(e.length for e in episodes)
    per_episode = max(-(-n_items // len(episodes)), longest // plan.segment_length, 1)
    return cut_segments(
        episodes, plan.segment_length, rng, absorbing=plan.absorbing, per_episode=per_episode,
        end_caption=plan.end_caption,
    )  # fmt: skip


class PairwiseForm:
    """Two segments per query; the answer is the preference for the first."""

    name: str = "pairwise"
    arity: int = 2
    targets_kind: TargetKind = "preferences"

    def queries(self, episodes: Sequence[Episode], n: int, rng: np.random.Generator, plan: QueryPlan) -> list[Query]:
        """Up to ``n`` distinct pairs of segments (about two fresh segments per query)."""
        segments = segment_pool(episodes, 2 * n, rng, plan)
        if plan.sampler == "disagreement":
            if plan.uncertainty is None:
                raise ValueError("query.sampler=disagreement needs a reward model with a disagreement function")
            return DisagreementPairs(plan.uncertainty, plan.candidate_factor).sample(segments, n, rng)
        return RandomPairs().sample(segments, n, rng)

    def label(self, query: Query, answer: float | None, provenance: Provenance) -> Label:
        """``ok`` with ``preference=answer`` when it is a number in [0, 1], else ``failed``."""
        if answer is None:
            return failed(query, provenance, "no answer")
        if not (math.isfinite(answer) and 0.0 <= answer <= 1.0):
            return failed(query, provenance, f"preference {answer!r} is not a probability in [0, 1]")
        return Label(query.key, "ok", provenance, preference=float(answer))

    def targets(
        self, labelled: Sequence[tuple[Query, Label]], rng: np.random.Generator, plan: TargetPlan
    ) -> PreferenceTargets:
        """The ``ok`` pairwise labels as they are; validation by a hash of the query key."""
        rows = [
            (q, lab) for q, lab in labelled if q.kind == self.name and lab.status == "ok" and lab.preference is not None
        ]
        keys = tuple(lab.query_key for _, lab in rows)
        return PreferenceTargets(
            first=tuple(q.segments[0] for q, _ in rows),
            second=tuple(q.segments[1] for q, _ in rows),
            prefs=np.array([lab.preference for _, lab in rows], np.float32),
            val=split_by_key(keys, plan.val_fraction),
            keys=keys,
        )
