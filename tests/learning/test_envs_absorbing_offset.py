"""The absorbing offset decides whether a negative learned reward teaches CartPole to balance or to fall."""

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

from judgerl.envs.factory import make_vec_env
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer
from judgerl.tasks import get_task


class NegativeAlive:
    """-1 on every live state and -2 on the absorbing state: living beats ending, yet every reward is < 0."""

    def predict(self, obs, acts, dones=None):
        d = np.zeros(len(obs), np.float32) if dones is None else np.asarray(dones, np.float32)
        return (-1.0 - d).astype(np.float32)


def _train(absorbing_offset: bool, seed: int) -> float:
    torch.set_num_threads(1)
    task = get_task("cartpole/balance-v0")
    # r_hat alone, divided by its running RMS (the mixer's "running" normalisation)
    mixer = RewardMixer(MixConfig(normalize="running"), 8)
    venv = LearnedRewardVecEnv(
        make_vec_env(task, 8, seed=seed), NegativeAlive(), mixer, absorbing_offset=absorbing_offset
    )
    # SB3 RL-zoo CartPole-v1 PPO settings.
    model = PPO(
        "MlpPolicy", venv, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
        learning_rate=1e-3, seed=seed, device="cpu",
    )  # fmt: skip
    model.learn(16_000)
    assert model.ep_info_buffer is not None
    return float(np.mean([ep["r"] for ep in model.ep_info_buffer]))  # TRUE returns from Monitor


@pytest.mark.slow
def test_absorbing_offset_turns_negative_reward_into_balancing():
    with_offset = [_train(True, s) for s in (0, 1)]
    without = [_train(False, s) for s in (0, 1)]
    assert min(with_offset) > 60, with_offset  # measured ~120-130 at 16k steps
    assert max(without) < 20, without  # a random policy lasts ~22 steps; this one learns to fall
