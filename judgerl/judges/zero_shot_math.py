"""VLM-RM's goal–baseline projection reward, in plain numpy.

Reference: Rocamonde, Montesinos, Nava, Perez, Lindner (2023), "Vision-Language
Models are Zero-Shot Reward Models for Reinforcement Learning", arXiv:2310.12921
(seed 004; the formula follows the paper and AlignmentResearch/vlmrm's
``CLIPReward``). With unit-normalised embeddings ``g`` (goal), ``b`` (baseline)
and ``x`` (the item: a caption or a frame)::

    d = (g - b) / ||g - b||
    P = alpha * d d^T + (1 - alpha) * I
    reward(x) = 1 - 1/2 * ||P (x - g)||^2

``alpha = 0`` gives ``1 - ½‖x − g‖² = cos(x, g)`` (plain cosine similarity for
unit vectors); ``alpha = 1`` keeps only the component of ``x − g`` along the
baseline→goal direction, so the reward varies only with how far ``x`` has moved
from the baseline description towards the goal description. ``P`` is symmetric,
so ``P (x − g)`` and vlmrm's row-vector ``(x − g) P`` agree.
"""

from __future__ import annotations

import numpy as np


def unit_rows(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Normalise each row to unit L2 norm.

    Args:
        x: Vectors, shape ``(N, D)`` or ``(D,)``.
        eps: Floor on the norm, so a zero vector stays zero instead of NaN.

    Returns:
        Float64 array of the same shape with unit-norm rows.
    """
    a = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(a, axis=-1, keepdims=True)
    return a / np.maximum(norm, eps)


def projection_matrix(goal: np.ndarray, baseline: np.ndarray, alpha: float) -> np.ndarray:
    """VLM-RM's partial projection ``P = α d dᵀ + (1 − α) I``.

    Args:
        goal: Goal embedding, shape ``(D,)`` (normalised here).
        baseline: Baseline embedding, shape ``(D,)`` (normalised here).
        alpha: Regularisation strength in ``[0, 1]``.

    Returns:
        ``P``, shape ``(D, D)`` float64.

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]``, or goal and baseline embed to
            the same vector while ``alpha > 0`` (the direction is undefined).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    g = unit_rows(goal)
    b = unit_rows(baseline)
    dim = g.shape[-1]
    eye = np.eye(dim)
    if alpha == 0.0:
        return eye
    diff = g - b
    norm = float(np.linalg.norm(diff))
    if norm < 1e-8:
        raise ValueError("goal and baseline texts have the same embedding; use a different baseline or alpha=0")
    d = diff / norm
    return alpha * np.outer(d, d) + (1.0 - alpha) * eye


def projection_reward(items: np.ndarray, goal: np.ndarray, baseline: np.ndarray, alpha: float) -> np.ndarray:
    """Goal–baseline projection reward ``1 − ½‖P (x − g)‖²`` for each item.

    Args:
        items: Item embeddings ``x``, shape ``(N, D)`` (normalised here).
        goal: Goal embedding, shape ``(D,)``.
        baseline: Baseline embedding, shape ``(D,)``.
        alpha: Regularisation strength in ``[0, 1]`` (0 = cosine similarity).

    Returns:
        Rewards, shape ``(N,)`` float64, in ``[-1, 1]``.
    """
    return reward_from_projection(items, unit_rows(goal), projection_matrix(goal, baseline, alpha))


def reward_from_projection(items: np.ndarray, goal_unit: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """``1 − ½‖P (x − g)‖²`` with a precomputed ``P`` (judges cache ``g`` and ``P``).

    Args:
        items: Item embeddings ``x``, shape ``(N, D)`` (normalised here).
        goal_unit: Unit-norm goal embedding ``g``, shape ``(D,)``.
        proj: ``P`` from ``projection_matrix``, shape ``(D, D)``.

    Returns:
        Rewards, shape ``(N,)`` float64.
    """
    x = unit_rows(np.atleast_2d(items))
    diff = (x - goal_unit[None, :]) @ proj  # P is symmetric: rows of (x-g) P == P (x-g)
    return 1.0 - 0.5 * np.sum(diff * diff, axis=-1)
