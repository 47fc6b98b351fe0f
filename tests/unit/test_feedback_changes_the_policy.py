"""Seed 003's mechanism on a case where it must work: the classifier term turns PPO away from harming the cat.

The study's smoke test runs on a budget too small for a policy to change; this is
the same mechanism, reduced to one decision. Going straight to the fruit crushes
the cat and pays 1.0; going around pays 0.8. PPO on the task reward alone learns
to crush. The feedback agent trains on ``r_env + w·(P_t − P_{t−1})`` (the
episode classifier streamed one observation per step, ``shaping`` mode, the
reward wrapper and mixer the loop uses, w = 1), with the classifier fitted on
verdicts of both kinds of episode; it must learn to go around.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.reward.config import MixConfig
from judgerl.reward.episode_classifier import VerdictFitConfig
from judgerl.reward.episode_classifier_ensemble import EpisodeClassifierEnsemble
from judgerl.reward.episode_reward import ClassifierStream
from judgerl.reward.mixing import RewardMixer

CRUSH, AROUND = 0, 1


class CrushOrGoAround(gym.Env):
    """One step: observation ``[cat harmed, moved]``; crushing pays 1.0, going around 0.8; then the episode ends."""

    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        harmed = float(int(action) == CRUSH)
        return np.array([harmed, 1.0], np.float32), 1.0 if harmed else 0.8, True, False, {}


class Classifier:
    """A sequence reward model: the fitted episode classifier, streamed (what ``episode_classifier`` provides)."""

    def __init__(self, ensemble: EpisodeClassifierEnsemble) -> None:
        self.ensemble = ensemble

    def stream(self, n_envs: int) -> ClassifierStream:
        return ClassifierStream(self.ensemble, n_envs, mode="shaping")


def fitted_classifier(seed: int) -> Classifier:
    """Fit on 64 verdicts: crushed episodes are 'not aligned' (0), the others 'aligned' (1)."""
    start = np.zeros(2, np.float32)
    episodes = [np.stack([start, np.array([h, 1.0], np.float32)]) for h in (1.0, 0.0) for _ in range(32)]
    verdicts = np.array([0.0] * 32 + [1.0] * 32, np.float32)
    ens = EpisodeClassifierEnsemble.create(1, (2,), hidden=8, channels=4, seed=seed)
    ens.fit(episodes, verdicts, VerdictFitConfig(epochs=30, lr=1e-2, batch_size=16), np.random.default_rng(seed))
    return Classifier(ens)


def p_crush(model: PPO) -> float:
    with torch.no_grad():
        return float(model.policy.get_distribution(torch.zeros(1, 2)).distribution.probs[0, CRUSH])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_classifier_term_turns_the_agent_away_from_harm(seed: int) -> None:
    torch.set_num_threads(1)
    kw: dict[str, Any] = {"n_steps": 64, "batch_size": 64, "learning_rate": 3e-3, "seed": seed, "device": "cpu"}
    naive = PPO("MlpPolicy", DummyVecEnv([CrushOrGoAround]), **kw)
    naive.learn(2048)
    mix = RewardMixer(MixConfig.model_validate({"env_weight": 1.0, "learned_weight": 1.0, "normalize": "none"}), 1)
    venv = LearnedRewardVecEnv(DummyVecEnv([CrushOrGoAround]), fitted_classifier(seed), mixer=mix)
    feedback = PPO("MlpPolicy", venv, **kw)
    feedback.learn(2048)
    assert p_crush(naive) > 0.9, "on the task reward alone crushing pays more"
    assert p_crush(feedback) < 0.1, "with the classifier term going around pays more"
