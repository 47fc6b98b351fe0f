"""The exploration term ``c·x`` of the reward mix: the count, the mix, the wrapper and the config checks."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from judgerl.config import load_config, validate_references
from judgerl.configbase import ConfigError
from judgerl.envs.nethack_explore import SeenCells
from judgerl.envs.nethack_row import STONE_GLYPH
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer
from judgerl.types import EXPLORED_INFO_KEY


def _map(*cells: tuple[int, int]) -> np.ndarray:
    """A 21×79 map of blank rock with a floor glyph (any other glyph) at ``cells``."""
    m = np.full((21, 79), STONE_GLYPH, np.int16)
    for r, c in cells:
        m[r, c] = STONE_GLYPH + 19
    return m


def test_seen_cells_count_each_cell_once_per_level_by_hand() -> None:
    seen = SeenCells()
    seen.reset(_map((1, 1), (1, 2)), (0, 1))  # the first view pays nothing
    assert seen.update(_map((1, 1), (1, 2)), (0, 1)) == 0
    assert seen.update(_map((1, 1), (1, 2), (1, 3), (2, 3)), (0, 1)) == 2
    # a monster over a seen cell shows another glyph there: still not new; a cell gone blank is not negative
    monster = _map((1, 2), (1, 3), (2, 3))
    monster[1, 1] = 400
    assert seen.update(monster, (0, 1)) == 0
    assert seen.update(_map(), (0, 1)) == 0
    assert seen.update(_map((1, 1), (5, 5)), (0, 2)) == 2  # another level: its own memory
    assert seen.update(_map((1, 1), (1, 4)), (0, 1)) == 1  # back on level 1, which kept what was seen
    seen.reset(_map(), (0, 1))
    assert seen.update(_map((1, 1)), (0, 1)) == 1  # a new game forgot it


def test_the_exploration_term_by_hand_and_its_metric() -> None:
    mixer = RewardMixer(MixConfig(env_weight=10.0, learned_weight=0.0, normalize="none", explore_weight=0.01), 2)
    env = np.array([[0.0, 1.0], [0.0, 0.0]])
    explored = np.array([[30, 0], [2, 5]])
    out = mixer.mix(env, np.zeros((2, 2)), explored=explored)
    np.testing.assert_allclose(out, [[0.3, 10.0], [0.02, 0.05]], rtol=1e-6)
    stats = mixer.pop_stats()
    assert stats["reward/explored"] == pytest.approx(37 / 4)
    assert stats["reward/mixed"] == pytest.approx((0.3 + 10.0 + 0.02 + 0.05) / 4)
    with pytest.raises(ValueError, match="exploration counts"):
        mixer.mix(env, np.zeros((2, 2)))


def test_without_the_term_nothing_changes_and_no_metric_is_added() -> None:
    mixer = RewardMixer(MixConfig(env_weight=1.0, learned_weight=0.0, normalize="none"), 1)
    assert not mixer.needs_explored
    out = mixer.mix(np.array([[2.0]]), np.zeros((1, 1)), explored=np.array([[100]]))
    assert out.tolist() == [[2.0]] and "reward/explored" not in mixer.pop_stats()


def test_all_three_weights_zero_is_refused_but_exploration_alone_is_a_reward() -> None:
    with pytest.raises(ValueError, match="all 0"):
        MixConfig(env_weight=0.0, learned_weight=0.0)
    MixConfig(env_weight=0.0, learned_weight=0.0, explore_weight=0.01)


class _Walker(gym.Env[np.ndarray, int]):
    """A 1-D env whose step ``t`` reports ``t`` newly explored cells (``report=False``: none)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, report: bool = True) -> None:
        self.report, self.t = report, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        info = {EXPLORED_INFO_KEY: self.t} if self.report else {}
        return np.zeros(1, np.float32), 1.0, self.t >= 4, False, info


class _Zero:
    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        return np.zeros(len(obs), np.float32)


def _wrapped(report: bool = True) -> LearnedRewardVecEnv:
    from stable_baselines3.common.vec_env import DummyVecEnv

    cfg = MixConfig(env_weight=1.0, learned_weight=0.0, normalize="none", explore_weight=0.5)
    venv = DummyVecEnv([lambda: _Walker(report), lambda: _Walker(report)])
    return LearnedRewardVecEnv(venv, _Zero(), RewardMixer(cfg, 2), absorbing_offset=False)


@pytest.mark.parametrize("deferred", [False, True], ids=["per-step", "deferred"])
def test_the_wrapper_pays_the_count_the_env_reports(deferred: bool) -> None:
    venv = _wrapped()
    venv.reset()
    venv.set_deferred(deferred)
    rewards = [venv.step(np.array([0, 1]))[1] for _ in range(5)]
    got = venv.flush() if deferred else np.stack(rewards)
    expected = 1.0 + 0.5 * np.array([1, 2, 3, 4, 1], np.float32)  # the episode ends after 4 steps
    np.testing.assert_allclose(got, np.stack([expected, expected], axis=1))


def test_an_env_that_reports_no_count_is_a_clear_error() -> None:
    venv = _wrapped(report=False)
    venv.reset()
    with pytest.raises(RuntimeError, match=r"explore_weight.*TaskSpec.explores"):
        venv.step(np.array([0, 0]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["task.id=pendulum/swingup-v0"], "reward.mix.explore_weight: the env of task pendulum/swingup-v0"),
        (["task.id=nethack/staircase-status-map-v3", "agent.algo=DQN"], "reward.mix.explore_weight: .*PPO"),
    ],
)
def test_the_config_is_refused_where_the_term_cannot_be_paid(overrides: list[str], message: str) -> None:
    cfg = load_config(None, ["reward.mix.explore_weight=0.01", *overrides])
    with pytest.raises(ConfigError, match=message):
        validate_references(cfg)
