"""The RewardModel interface: a batched function of (observation, action)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class RewardModel(Protocol):
    """Maps a batch of transitions to scalar rewards."""

    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        """Reward for each transition.

        Args:
            obs: Observations before the step, shape ``(N, O)``.
            acts: Actions taken, shape ``(N, A)`` (discrete actions as indices, ``A == 1``).
            dones: ``1.0`` where the row is an absorbing (post-episode) step,
                shape ``(N,)``; ``None`` means all zeros.

        Returns:
            Rewards, shape ``(N,)`` float32.
        """
        ...
