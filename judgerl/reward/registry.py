"""Built-in reward models, by name, as factories from env spaces.

Every entry is run through ``check_reward_model`` by the test suite, so a model
added here is contract-checked automatically. A factory takes the env's spaces,
the reward config and a seed, and returns an (unfitted) ``RewardModel``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from judgerl.config import RewardConfig
from judgerl.reward.base import RewardModel
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.reward.features import Featurizer

RewardModelFactory = Callable[[gym.Space[Any], gym.Space[Any], RewardConfig, int], RewardModel]


def make_preference_ensemble(
    obs_space: gym.Space[Any], action_space: gym.Space[Any], cfg: RewardConfig, seed: int
) -> RewardEnsemble:
    """A ``RewardEnsemble`` over flattened observations and featurized actions.

    Args:
        obs_space: The env's observation space (flattened size ``O``).
        action_space: The env's action space (see ``Featurizer``).
        cfg: Architecture and training settings (``use_action``: whether actions are features).
        seed: Seeds member initialisation.
    """
    return RewardEnsemble(Featurizer(gym.spaces.flatdim(obs_space), action_space, cfg.use_action), cfg, seed)


BUILTIN_REWARD_MODELS: dict[str, RewardModelFactory] = {
    "preference_ensemble": make_preference_ensemble,
}
