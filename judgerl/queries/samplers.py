"""Query samplers: random pairs, ensemble-disagreement pairs, random singles (used by the feedback forms).

``DisagreementPairs`` is the active-learning scheme of Christiano et al. (2017)
and PEBBLE: draw many random candidate pairs, ask the reward ensemble how much
its members disagree about which segment is better, and keep the most
contested pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from judgerl.types import Query, Segment

PairUncertainty = Callable[[Sequence[tuple[Segment, Segment]]], np.ndarray]
"""``pair_std(pairs) -> (P,)``: for each pair ``(a, b)``, the standard deviation over
ensemble members of the predicted probability that ``a`` is better than ``b``
(any disagreement score works; larger = more informative)."""


def _random_index_pairs(m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` index pairs ``(i, j)`` with ``i != j``, uniform over ordered pairs; shape ``(n, 2)``."""
    i = rng.integers(0, m, size=n)
    j = (i + rng.integers(1, m, size=n)) % m  # never equal to i
    return np.stack([i, j], axis=1)


class RandomPairs:
    """Pairwise queries from uniformly random pairs of distinct segments."""

    def sample(self, segments: Sequence[Segment], n: int, rng: np.random.Generator) -> list[Query]:
        """Return ``n`` pairwise queries (none if the pool has fewer than 2 segments)."""
        if len(segments) < 2 or n <= 0:
            return []
        # Distinct queries only: a repeated pair would be answered from the cache and
        # silently shrink the label budget actually spent. Redraw a few times to fill up.
        out: dict[str, Query] = {}
        for _ in range(8):
            for i, j in _random_index_pairs(len(segments), 2 * (n - len(out)), rng):
                q = Query("pairwise", (segments[i], segments[j]))
                out.setdefault(q.key, q)
                if len(out) == n:
                    return list(out.values())
        return list(out.values())


class DisagreementPairs:
    """Pairwise queries the reward ensemble disagrees on most.

    Args:
        uncertainty: ``pair_std(pairs) -> np.ndarray`` of shape ``(P,)``, see
            ``PairUncertainty``.
        candidate_factor: Random candidate pairs drawn per query returned.
    """

    def __init__(self, uncertainty: PairUncertainty, candidate_factor: int = 4):
        if candidate_factor < 1:
            raise ValueError(f"candidate_factor must be at least 1, got {candidate_factor}")
        self.uncertainty = uncertainty
        self.candidate_factor = candidate_factor

    def sample(self, segments: Sequence[Segment], n: int, rng: np.random.Generator) -> list[Query]:
        """Return the ``n`` candidate pairs with the largest disagreement, most contested first."""
        m = len(segments)
        if m < 2 or n <= 0:
            return []
        idx = _random_index_pairs(m, n * self.candidate_factor, rng)
        # Drop repeated pairs (either order) so one contested pair is not asked twice.
        _, first = np.unique(np.sort(idx, axis=1), axis=0, return_index=True)
        idx = idx[np.sort(first)]
        pairs = [(segments[i], segments[j]) for i, j in idx]
        std = np.asarray(self.uncertainty(pairs), dtype=np.float64).reshape(-1)
        if std.shape != (len(pairs),):
            raise ValueError(f"uncertainty returned shape {std.shape} for {len(pairs)} pairs; expected ({len(pairs)},)")
        order = np.argsort(-std, kind="stable")[:n]
        return [Query("pairwise", pairs[k]) for k in order]


class RandomSingles:
    """One-segment queries (pointwise, episode, or any one-segment form) about distinct random segments.

    Args:
        kind: The form name of the queries, e.g. ``"pointwise"``.
    """

    def __init__(self, kind: str = "pointwise"):
        self.kind = kind

    def sample(self, segments: Sequence[Segment], n: int, rng: np.random.Generator) -> list[Query]:
        """Return ``min(n, len(segments))`` queries, each about a different segment."""
        k = min(n, len(segments))
        if k <= 0:
            return []
        idx = rng.choice(len(segments), size=k, replace=False)
        return [Query(self.kind, (segments[i],)) for i in idx]
