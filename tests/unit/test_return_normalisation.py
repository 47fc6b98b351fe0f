"""``reward.mix.normalize_return``: the agent's reward over the running std of its discounted return.

Checked against a hand computation (SB3 ``VecNormalize``'s order: fold in the return including this
step, scale, restart ended episodes), for invariance to the reward's scale (what it is for: the value
targets no longer depend on how large the rewards are), and for an exact resume from its saved state.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from judgerl.config import load_config, validate_references
from judgerl.configbase import ConfigError
from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer

ENV_ONLY = {"env_weight": 1.0, "learned_weight": 0.0, "normalize": "none", "normalize_return": True}


def _mixer(n_envs: int = 1, gamma: float = 0.5, **cfg: object) -> RewardMixer:
    return RewardMixer(MixConfig.model_validate({**ENV_ONLY, **cfg}), n_envs, gamma=gamma)


def _mix(mixer: RewardMixer, env: np.ndarray, dones: np.ndarray, update: bool = True) -> np.ndarray:
    return mixer.mix(env, np.zeros_like(env), dones, update=update)


def test_rewards_are_divided_by_the_std_of_the_discounted_returns_seen_so_far() -> None:
    mixer = _mixer(gamma=0.5)
    env = np.array([[2.0], [4.0], [1.0], [3.0]])
    dones = np.array([[False], [True], [False], [False]])
    out = _mix(mixer, env, dones)[:, 0]
    # Returns: 2, 0.5*2 + 4 = 5, (episode ended) 1, 0.5*1 + 3 = 3.5; each step divides by the std so far.
    returns = [2.0, 5.0, 1.0, 3.5]
    expected = []
    for t, r in enumerate(env[:, 0]):
        std = np.std(returns[: t + 1]) if t > 0 else 0.0
        expected.append(np.clip(r / max(std, 1e-4), -10, 10))
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    assert out[0] == 10.0  # one return has no spread yet: the reward is clipped, not blown up
    assert mixer.pop_stats()["reward/return_std"] == pytest.approx(np.std(returns))
    assert mixer.pop_stats() == {}


def test_the_normalised_reward_does_not_depend_on_the_rewards_scale() -> None:
    rng = np.random.default_rng(0)
    env = rng.normal(0.3, 1.0, size=(400, 4))
    dones = rng.random((400, 4)) < 0.05
    small = _mix(_mixer(4, gamma=0.99), env, dones)
    large = _mix(_mixer(4, gamma=0.99), 1000.0 * env, dones)
    np.testing.assert_allclose(small[50:], large[50:], rtol=1e-4)
    assert 0.2 < float(np.std(small[50:])) < 5.0  # unit-ish scale, where the raw large rewards have std 1000


def test_reading_without_update_changes_nothing_and_uses_the_current_scale() -> None:
    mixer = _mixer(2, gamma=0.9, return_clip=3.0)
    _mix(mixer, np.array([[1.0, 5.0], [2.0, -1.0]]), np.zeros((2, 2), bool))
    before = json.dumps(mixer.state())
    scale = mixer.return_scale.scale if mixer.return_scale is not None else float("nan")
    out = _mix(mixer, np.array([[1.0, 100.0]]), np.zeros((1, 2), bool), update=False)
    np.testing.assert_allclose(out[0], [1.0 / scale, 3.0], rtol=1e-6)
    assert json.dumps(mixer.state()) == before


def test_a_mixer_restored_from_its_saved_state_goes_on_exactly() -> None:
    rng = np.random.default_rng(1)
    env = rng.normal(size=(60, 3))
    dones = rng.random((60, 3)) < 0.1
    going = _mixer(3, gamma=0.95)
    _mix(going, env[:30], dones[:30])
    saved = json.loads(json.dumps(going.state()))  # through JSON, as state.json and the sidecars keep it
    restored = RewardMixer(going.cfg, 3)  # the default gamma: the state brings the run's
    restored.load_state(saved)
    going.forget_episodes()  # a resumed iteration starts new episodes; so does the uninterrupted one (reseed)
    np.testing.assert_array_equal(_mix(restored, env[30:], dones[30:]), _mix(going, env[30:], dones[30:]))
    fresh = _mixer(3, gamma=0.95)
    assert not np.allclose(_mix(fresh, env[30:], dones[30:]), _mix(restored, env[30:], dones[30:]))


def test_training_needs_the_episode_ends() -> None:
    with pytest.raises(ValueError, match="normalize_return needs the episode ends"):
        _mixer().mix(np.ones((1, 1)), np.zeros((1, 1)))


def test_off_policy_agents_are_refused_with_the_field_named() -> None:
    cfg = load_config(None, ["task.id=pendulum/swingup-v0", "agent.algo=SAC", "reward.mix.normalize_return=true"])
    with pytest.raises(ConfigError, match=r"reward\.mix\.normalize_return: .*agent\.algo=PPO"):
        validate_references(cfg)
