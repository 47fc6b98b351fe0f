"""Reward model interfaces: what the RL wrapper calls, and what the loop fits.

Two ways to give a reward, one way to be fitted:

* ``RewardModel``: a Markov reward, a batched function of (observation,
  action). The env wrapper calls ``predict`` on many transitions at once.
* ``SequenceRewardModel``: a reward that depends on the episode so far (an
  episode classifier's change of score, seed 003). It hands out a
  ``RewardStream`` per vector env, which keeps one state per env.
* ``FrameRewardModel``: a reward of the rendered frame of the state each step
  reached (CLIP, VLM-RM). The env wrapper gets the frames from the vector env
  (``judgerl.envs.frames.FrameInfo``), not from observation rows (decision 0023).
* ``Fittable``: a model the loop refits on the feedback form's training
  targets (``judgerl.forms``) and checkpoints; a zero-shot reward has nothing
  to fit and is not one.

Observations are flat float32 rows (``judgerl.envs.spaces``); actions are
``(N, A)`` with discrete actions as float indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from judgerl.forms.base import Targets
from judgerl.types import Segment


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


@runtime_checkable
class RewardStream(Protocol):
    """Per-env state of a history-dependent reward, fed one step at a time for ``N`` envs."""

    def start(self, obs: np.ndarray, mask: np.ndarray) -> None:
        """Begin new episodes in the envs selected by ``mask`` ``(N,)`` bool, from their first observations ``(N, O)``.

        Rows not selected by ``mask`` are ignored.
        """
        ...

    def step(self, next_obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Reward of the step each env just took, given the observation it led to ``(N, O)``.

        For an env whose episode ended on this step (``dones`` ``(N,)`` bool),
        ``next_obs`` is its final observation (not the next episode's first);
        call :meth:`start` for it afterwards.

        Returns:
            Rewards, shape ``(N,)`` float32.
        """
        ...


@runtime_checkable
class SequenceRewardModel(Protocol):
    """A reward that depends on the episode so far."""

    def stream(self, n_envs: int) -> RewardStream:
        """A fresh stream for ``n_envs`` parallel envs (call ``start`` with every env's first observation)."""
        ...


@runtime_checkable
class FrameRewardModel(Protocol):
    """Maps rendered frames to rewards; the reward of a step is the score of the frame of the state it reached.

    Attributes:
        frame_size: Side length of the square frames it wants (CLIP's ``image_size``): the vector env
            renders and resizes to it (``make_vec_env(..., frame_size=...)``).
    """

    frame_size: int

    def predict_frames(self, frames: np.ndarray) -> np.ndarray:
        """Reward of each frame.

        Args:
            frames: RGB frames, shape ``(N, frame_size, frame_size, 3)`` uint8.

        Returns:
            Rewards, shape ``(N,)`` float32.
        """
        ...


@runtime_checkable
class Fittable(Protocol):
    """A reward model the loop fits on training targets and checkpoints.

    Attributes:
        fits: The targets it takes: ``"preferences"`` or ``"verdicts"``
            (``judgerl.forms.base.target_kind``).
    """

    fits: str

    def fit(self, targets: Targets, rng: np.random.Generator) -> dict[str, float]:
        """Fit in place (warm start is the model's own choice); returns ``reward/...`` metrics."""
        ...

    def save(self, path: Path) -> None:
        """Write everything needed to rebuild the fitted model to ``path`` (no pickled code)."""
        ...


@runtime_checkable
class Disagreement(Protocol):
    """A model whose members can say how unsure they are about candidate queries (active selection)."""

    def disagreement(self, items: Sequence[tuple[Segment, ...]]) -> np.ndarray:
        """Disagreement per candidate query's segments, shape ``(Q,)`` (larger = more informative)."""
        ...
