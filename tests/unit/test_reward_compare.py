"""A run's reward as EPIC sees it: the wrapper's absorbing offset, terminal states, the sampling distributions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from judgerl.configbase import ConfigError
from judgerl.evaluation.alpha_landscape import landscape_data, plot_landscape, swept_states
from judgerl.evaluation.epic import epic, sample_transitions
from judgerl.evaluation.reward_compare import (
    action_sampler,
    model_reward,
    probe_reads,
    state_sampler,
    true_reward_fn,
)
from judgerl.evaluation.true_reward import get_true_reward

CARTPOLE = get_true_reward("cartpole/balance-v0")


class Upright:
    """A reward model: larger the more upright the pole; the absorbing row (dones=1) is worth 5."""

    def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
        r = 1.0 - np.abs(obs[:, 2])
        if dones is not None:
            r = np.where(dones > 0.5, 5.0, r)
        return r.astype(np.float32)


def test_model_reward_subtracts_the_absorbing_row_and_pays_zero_from_terminal_states() -> None:
    obs = np.array([[0.0, 0.0, 0.1, 0.0], [0.0, 0.0, 0.25, 0.0]])  # live, terminal (theta past 12 degrees)
    acts = np.zeros((2, 1))
    with_offset = model_reward(Upright(), 4, 1, True, CARTPOLE, "m")
    np.testing.assert_allclose(with_offset(obs, acts, obs), [0.9 - 5.0, 0.0], rtol=1e-6)
    without = model_reward(Upright(), 4, 1, False, None, "m")
    np.testing.assert_allclose(without(obs, acts, obs), [0.9, 0.75], rtol=1e-6)


def test_probe_marks_action_free_models_state_only() -> None:
    acts = action_sampler(gym.spaces.Discrete(2))
    states = CARTPOLE.sample_states(64, np.random.default_rng(0))
    r = probe_reads(model_reward(Upright(), 4, 1, False, CARTPOLE, "m"), states, acts, np.random.default_rng(1))
    assert r.reads == "s"

    class UsesAction(Upright):
        def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
            return super().predict(obs, acts, dones) + acts[:, 0].astype(np.float32)

    r = probe_reads(model_reward(UsesAction(), 4, 1, False, None, "m"), states, acts, np.random.default_rng(1))
    assert r.reads == "sa"


def test_what_the_absorbing_row_is_worth_decides_the_distance() -> None:
    # Same live rewards; only the model's absorbing-row reward differs. Worth 0, living pays (CartPole's truth);
    # worth 5, every live step pays less than ending the episode: the opposite of the truth.
    acts = action_sampler(gym.spaces.Discrete(2))
    s = sample_transitions(CARTPOLE.sample_states, acts, np.random.default_rng(0), 2048, 64, 0.99)

    class EndsAtZero(Upright):
        def predict(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> np.ndarray:
            r = super().predict(obs, acts, dones)
            return np.where(dones > 0.5, 0.0, r).astype(np.float32) if dones is not None else r

    good = model_reward(EndsAtZero(), 4, 1, True, CARTPOLE, "good")
    bad = model_reward(Upright(), 4, 1, True, CARTPOLE, "bad")
    d_good = epic(good, true_reward_fn(CARTPOLE), s).distance
    d_bad = epic(bad, true_reward_fn(CARTPOLE), s).distance
    assert d_good < 0.2 and d_bad > 0.9, (d_good, d_bad)


def test_action_sampler_covers_the_space_and_refuses_unbounded_boxes() -> None:
    rng = np.random.default_rng(0)
    d = action_sampler(gym.spaces.Discrete(3))(600, rng)
    assert d.shape == (600, 1) and set(np.unique(d)) == {0.0, 1.0, 2.0}
    b = action_sampler(gym.spaces.Box(-2.0, 2.0, (1,)))(1000, rng)
    assert b.min() < -1.9 and b.max() > 1.9 and np.all(np.abs(b) <= 2.0)
    with pytest.raises(ConfigError, match="bounded"):
        action_sampler(gym.spaces.Box(-np.inf, np.inf, (1,)))


def test_state_sampler_mixes_stored_states_and_the_range() -> None:
    stored = np.full((10, 4), 0.123)
    sample = state_sampler(CARTPOLE, stored)
    out = sample(4000, np.random.default_rng(0))
    share = float(np.mean(np.all(out == 0.123, axis=1)))
    assert abs(share - 0.5) < 0.05
    only_stored = state_sampler(None, stored)(50, np.random.default_rng(0))
    assert np.all(only_stored == 0.123)
    with pytest.raises(ConfigError, match="no states"):
        state_sampler(None, np.zeros((0, 0)))


def test_landscape_data_sweeps_one_variable_and_plots(tmp_path: object) -> None:
    xs, obs = swept_states("mountaincar/reach-flag-v0", 11)
    assert xs[0] == -1.2 and xs[-1] == pytest.approx(0.6) and np.all(obs[:, 1] == 0.0)
    data = landscape_data(
        "mountaincar/reach-flag-v0",
        {"len": lambda caps: np.array([len(c) for c in caps], float)},
        n=11,
        offsets={"len": 3.0},
    )
    assert data["terminal"][-1] and not data["terminal"][0]
    assert data["true_reward"][0] == -1.0 and data["true_reward"][-1] == 0.0
    assert len(data["series"]["len"]) == 11 and "flag" in data["captions"][-1]
    from pathlib import Path

    png = plot_landscape(data, Path(str(tmp_path)) / "l.png")
    assert png.stat().st_size > 5000
