"""Calibration of yes/no scores, and pairwise preferences derived from them.

A yes/no log-prob margin ``log P(yes) − log P(no)`` is biased by the prompt
and the model's prior for "yes". Two fixes are offered:

- ``median``: the verdict threshold is the median margin over a calibration
  set (half the set is "yes"), as found useful for small local judges;
- ``content_free``: subtract the margin the same prompt gets with the content
  replaced by "N/A" (Zhao et al., 2021, "Calibrate before use").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

Calibration = Literal["none", "median", "content_free"]


def median_threshold(scores: Sequence[float]) -> float:
    """The median of ``scores`` (raises ``ValueError`` when empty)."""
    if len(scores) == 0:
        raise ValueError("cannot calibrate a median threshold on no scores")
    return float(np.median(np.asarray(scores, dtype=float)))


def content_free_adjust(margin: float, content_free_margin: float) -> float:
    """Margin minus the content-free margin (Zhao et al., 2021), in nats."""
    return margin - content_free_margin


def pairs_from_scores(scores_a: ArrayLike, scores_b: ArrayLike, temperature: float = 1.0) -> np.ndarray:
    """Bradley–Terry preference that A beats B from per-segment scores.

    Margins are log-odds, so ``sigmoid((a − b) / temperature)`` is the
    probability of A under a logistic choice model.

    Args:
        scores_a: Scores of the A segments, shape ``(N,)`` (or a scalar).
        scores_b: Scores of the B segments, same shape.
        temperature: Softness; smaller is sharper.

    Returns:
        Preferences in ``[0, 1]``, shape ``(N,)`` (0-d for scalars); 0.5 for equal scores.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    diff = (np.asarray(scores_a, dtype=float) - np.asarray(scores_b, dtype=float)) / temperature
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * diff)))  # sigmoid without overflow
