"""The true-reward functions reproduce gymnasium's rewards step by step, and mark its terminal states."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from judgerl.configbase import ConfigError
from judgerl.evaluation.true_reward import get_true_reward

CASES = [
    ("pendulum/swingup-v0", "Pendulum-v1"),
    ("cartpole/balance-v0", "CartPole-v1"),
    ("mountaincar/reach-flag-v0", "MountainCar-v0"),
]


@pytest.mark.parametrize(("task_id", "env_id"), CASES)
def test_true_reward_matches_the_env_step_by_step(task_id: str, env_id: str) -> None:
    truth = get_true_reward(task_id)
    env = gym.make(env_id)
    env.action_space.seed(0)
    obs_rows, acts, rewards, finals, terminated_any = [], [], [], [], False
    for ep in range(6):
        obs, _ = env.reset(seed=ep)
        done = False
        while not done:
            a = env.action_space.sample()
            if env_id == "Pendulum-v1":
                a = a * 1.5  # out-of-range torques: the env clips them, so must the reward
            nxt, r, term, trunc, _ = env.step(a)
            obs_rows.append(np.asarray(obs, np.float64).reshape(-1))
            acts.append(np.asarray(a, np.float64).reshape(-1))
            rewards.append(float(r))
            obs, done = nxt, term or trunc
            if term:
                terminated_any = True
                finals.append(np.asarray(nxt, np.float64))
    env.close()
    got = truth.reward(np.array(obs_rows), np.array(acts))
    np.testing.assert_allclose(got, rewards, rtol=1e-5, atol=1e-5)
    # Every state an action was taken from is live; every state an episode terminated in is terminal.
    assert not truth.is_terminal(np.array(obs_rows)).any()
    if finals:
        assert truth.is_terminal(np.array(finals)).all()
        assert np.all(truth.reward(np.array(finals), np.zeros((len(finals), 1))) == 0.0)
    assert terminated_any == (env_id == "CartPole-v1")  # random play: CartPole falls, MountainCar never arrives


def test_mountaincar_flag_state_is_terminal_and_pays_zero() -> None:
    truth = get_true_reward("mountaincar/reach-flag-v0")
    states = np.array([[0.55, 0.01], [0.55, -0.01], [0.3, 0.05]])
    assert truth.is_terminal(states).tolist() == [True, False, False]
    assert truth.reward(states, np.zeros((3, 1))).tolist() == [0.0, -1.0, -1.0]


@pytest.mark.parametrize(
    ("task_id", "live_share"), [("cartpole/balance-v0", 0.56), ("mountaincar/reach-flag-v0", 0.97)]
)
def test_state_ranges_include_terminal_states(task_id: str, live_share: float) -> None:
    truth = get_true_reward(task_id)
    states = truth.sample_states(20_000, np.random.default_rng(0))
    assert abs(float(np.mean(~truth.is_terminal(states))) - live_share) < 0.02


def test_pendulum_states_lie_on_the_circle() -> None:
    s = get_true_reward("pendulum/swingup-v0").sample_states(100, np.random.default_rng(0))
    np.testing.assert_allclose(s[:, 0] ** 2 + s[:, 1] ** 2, 1.0)
    assert s[:, 2].min() < -6 and s[:, 2].max() > 6


def test_task_without_true_reward_names_the_alternative() -> None:
    with pytest.raises(ConfigError, match="--against RUN_DIR"):
        get_true_reward("homegrid/values-v0")
