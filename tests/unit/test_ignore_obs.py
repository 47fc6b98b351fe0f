"""reward.ignore_obs: observation columns the learned reward cannot read, so a judge's bias about them is not paid."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from judgerl.config import RewardConfig, load_config, validate_references
from judgerl.configbase import ConfigError
from judgerl.forms.base import PreferenceTargets
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.reward.features import Featurizer
from judgerl.reward.registry import RewardSpec, get_reward_entry
from judgerl.tasks import get_task
from judgerl.types import Segment

PENDULUM = get_task("pendulum/swingup-v0")
TORQUE = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)


def _pendulum_rows(theta: np.ndarray, speed: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta), speed], axis=1).astype(np.float32)


def test_ignored_columns_are_zero_and_survive_a_spec_round_trip() -> None:
    feat = Featurizer(3, TORQUE, use_action=False, ignore_obs=[2])
    rows = feat(np.array([[0.5, -0.5, 7.0], [1.0, 0.0, -3.0]], np.float32), np.zeros((2, 1), np.float32))
    np.testing.assert_array_equal(rows.numpy(), [[0.5, -0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    back = Featurizer.from_spec(feat.spec())
    assert back.ignore_obs == (2,) and back.n_features == feat.n_features == 4
    # Specs saved before the setting existed read every column.
    old = {k: v for k, v in feat.spec().items() if k != "ignore_obs"}
    assert Featurizer.from_spec(old).ignore_obs == ()
    with pytest.raises(ValueError, match=r"ignore_obs indices must lie in \[0, 3\)"):
        Featurizer(3, TORQUE, ignore_obs=[3])


def _speed_biased_targets(rng: np.random.Generator) -> PreferenceTargets:
    """Pendulum segments at one (angle, speed); the judge likes height and, as a biased model did, speed too."""
    segs = []
    for _ in range(150):
        theta, speed = rng.uniform(-np.pi, np.pi), rng.uniform(-8.0, 8.0)
        obs = np.tile(_pendulum_rows(np.array([theta]), np.array([speed])), (5, 1))
        segs.append(Segment(obs, np.zeros((5, 1), np.float32), np.zeros(5, np.float32), np.zeros(5, np.float32), ()))

    def liked(s: Segment) -> float:
        return float(s.obs[0, 0]) + 0.25 * abs(float(s.obs[0, 2]))  # cos(theta), plus a pull towards speed

    i, j = rng.integers(0, len(segs), 500), rng.integers(0, len(segs), 500)
    keep = i != j
    prefs = [1.0 if liked(segs[a]) > liked(segs[b]) else 0.0 for a, b in zip(i[keep], j[keep], strict=True)]
    return PreferenceTargets(
        tuple(segs[k] for k in i[keep]),
        tuple(segs[k] for k in j[keep]),
        np.array(prefs, np.float32),
        rng.random(int(keep.sum())) < 0.2,
    )


def test_a_judge_that_pays_for_speed_leaves_no_speed_in_the_reward() -> None:
    """Without the setting the top at 8 rad/s outscores the top at rest (a spinner's reward); with it they tie."""
    targets = _speed_biased_targets(np.random.default_rng(0))
    top_fast, top_still = _pendulum_rows(np.zeros(2), np.array([8.0, -8.0])), _pendulum_rows(np.zeros(1), np.zeros(1))
    thetas = np.linspace(-np.pi, np.pi, 41)
    speeds = (0.0, 4.0, -6.0)
    grid = np.concatenate([_pendulum_rows(thetas, np.full(41, s)) for s in speeds])
    gaps, heights = [], []
    for ignore in ((), (2,)):
        cfg = RewardConfig.model_validate({"ensemble_size": 2, "hidden_sizes": [32, 32], "flatness": 0})
        model = RewardEnsemble(Featurizer(3, TORQUE, use_action=False, ignore_obs=ignore), cfg, seed=0)
        model.fit(targets, np.random.default_rng(0))
        probe = np.concatenate([top_fast, top_still])
        r = model.predict(probe, np.zeros((3, 1), np.float32))
        gaps.append(float(np.mean(r[:2]) - r[2]))
        by_speed = model.predict(grid, np.zeros((len(grid), 1), np.float32)).reshape(len(speeds), 41)
        heights.append(by_speed)
        # The per-step fast path and the batched torch path agree (the fast path zeroes the ignored weights).
        slow = model.predict_members(probe, np.zeros((3, 1), np.float32)).mean(axis=0)
        np.testing.assert_allclose(r, slow, rtol=1e-4, atol=1e-4)
    assert gaps[0] > 0.5  # the bias is learned when the reward can read the speed
    assert gaps[1] == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(heights[1], np.broadcast_to(heights[1][0], heights[1].shape), atol=1e-5)
    # What the task cares about survives: upright beats hanging down, and the top is the best angle.
    still = heights[1][0]
    # (Bradley-Terry units: a gap of 0.5 is a 62 % preference. The margin is smaller than without the setting,
    # 1.0 against 4.1, because the judge's pull towards speed is now noise around each angle.)
    assert still[20] - 0.5 * (still[0] + still[40]) > 0.5 and int(np.argmax(still)) in range(17, 24)


def test_the_registry_builds_the_pendulum_reward_without_theta_dot(tmp_path: Path) -> None:
    cfg = load_config(None, ["name=ignore", "task.id=pendulum/swingup-v0", "reward.ignore_obs=[theta_dot]"])
    validate_references(cfg)
    env = gym.make("Pendulum-v1")
    spec = RewardSpec(PENDULUM, env.observation_space, env.action_space, cfg, 0)
    env.close()
    model = get_reward_entry("preference_ensemble").build(spec)
    assert model.featurizer.ignore_obs == (2,)
    model.save(tmp_path / "reward")
    assert RewardEnsemble.load(tmp_path / "reward").featurizer.ignore_obs == (2,)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["reward.ignore_obs=[speed]"], "'speed' not among pendulum/swingup-v0's .*choose from: cos_theta, sin_theta"),
        (["reward.ignore_obs=[cos_theta,sin_theta,theta_dot]"], "every observation column is ignored"),
        (["reward.ignore_obs=[theta_dot]", "reward.model=zero_shot", "judge.type=embedding"], "only reward.model"),
        (["task.id=homegrid/cat-values-v0", "reward.ignore_obs=[x]"], "names no observation columns"),
    ],
)
def test_ignore_obs_is_refused_where_it_cannot_apply(sets: list[str], message: str) -> None:
    cfg = load_config(None, ["name=ignore-check", "task.id=pendulum/swingup-v0", *sets])
    with pytest.raises(ConfigError, match=rf"reward\.ignore_obs: .*{message}"):
        validate_references(cfg)
