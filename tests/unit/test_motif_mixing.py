"""Motif's reward mixing against a hand computation: r = a·r_env + b·1[r̂ > ε]·z(r̂) / N(message)^β."""

from __future__ import annotations

import math

import numpy as np
import pytest

from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer

MOTIF = MixConfig(env_weight=0.1, learned_weight=1.0, normalize="dataset", threshold_quantile=0.5, count_decay=3.0)


def test_dataset_threshold_and_count_decay_by_hand() -> None:
    mixer = RewardMixer(MOTIF, n_envs=1)
    mixer.calibrate(np.array([0.0, 1.0, 2.0, 3.0, 4.0]))  # mean 2, std sqrt(2), median 2
    assert mixer.mean == 2.0 and mixer.std == pytest.approx(math.sqrt(2)) and mixer.cut == 2.0
    learned = np.array([[3.0], [3.0], [1.0], [4.0]])
    env = np.array([[1.0], [0.0], [0.0], [2.0]])
    keys = [["a"], ["a"], ["b"], ["a"]]
    out = mixer.mix(env, learned, np.zeros((4, 1), bool), keys)[:, 0]
    z3, z4 = 1 / math.sqrt(2), 2 / math.sqrt(2)
    expected = [0.1 + z3 / 1**3, z3 / 2**3, 0.0, 0.2 + z4 / 3**3]  # 'b' is at the cut: thresholded out
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_counts_restart_with_each_episode_and_per_env() -> None:
    mixer = RewardMixer(MixConfig(normalize="none", count_decay=3.0), n_envs=2)
    learned = np.ones((3, 2))
    dones = np.array([[False, False], [True, False], [False, False]])
    keys = [["m", "m"], ["m", "m"], ["m", "m"]]
    out = mixer.mix(np.zeros((3, 2)), learned, dones, keys)
    np.testing.assert_allclose(out[:, 0], [1.0, 1 / 8, 1.0])  # env 0's episode ended after step 1
    np.testing.assert_allclose(out[:, 1], [1.0, 1 / 8, 1 / 27])
