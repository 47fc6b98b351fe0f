"""reward.mirror: a task's left-right symmetry doubles the training pairs, and a one-sided judge's slope cancels."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from judgerl.config import RewardConfig, load_config, validate_references
from judgerl.configbase import ConfigError
from judgerl.forms.base import PreferenceTargets
from judgerl.forms.mirror import mirror_segment, with_mirrored_pairs
from judgerl.reward.ensemble import RewardEnsemble
from judgerl.reward.features import Featurizer
from judgerl.tasks import get_task
from judgerl.types import Segment

CARTPOLE = get_task("cartpole/balance-v0")
PENDULUM = get_task("pendulum/swingup-v0")


def _step(env_id: str, state: np.ndarray, action: object) -> tuple[np.ndarray, float]:
    env = gym.make(env_id)
    env.reset(seed=0)
    env.unwrapped.state = np.array(state, np.float64)  # type: ignore[attr-defined]
    obs, reward, *_ = env.step(action)
    env.close()
    return np.asarray(obs, np.float64), float(reward)


def test_cartpole_mirror_commutes_with_the_dynamics_and_keeps_the_reward() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        state = rng.uniform([-2, -1, -0.15, -1], [2, 1, 0.15, 1])
        action = int(rng.integers(2))
        obs, reward = _step("CartPole-v1", state, action)
        m_state, m_act = CARTPOLE.mirror(state[None].astype(np.float32), np.array([[action]], np.float32))  # type: ignore[misc]
        m_obs, m_reward = _step("CartPole-v1", m_state[0], int(m_act[0, 0]))
        mirrored_next, _ = CARTPOLE.mirror(obs[None].astype(np.float32), np.zeros((1, 1), np.float32))  # type: ignore[misc]
        np.testing.assert_allclose(m_obs, mirrored_next[0], atol=1e-5)
        assert m_reward == reward


def test_pendulum_mirror_commutes_with_the_dynamics_and_keeps_the_reward() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        theta, speed, torque = rng.uniform(-np.pi, np.pi), rng.uniform(-6, 6), rng.uniform(-2, 2)
        obs, reward = _step("Pendulum-v1", np.array([theta, speed]), np.array([torque], np.float32))
        m_obs, m_reward = _step("Pendulum-v1", np.array([-theta, -speed]), np.array([-torque], np.float32))
        expected, _ = PENDULUM.mirror(obs[None].astype(np.float32), np.zeros((1, 1), np.float32))  # type: ignore[misc]
        np.testing.assert_allclose(m_obs, expected[0], atol=1e-5)
        assert m_reward == pytest.approx(reward, rel=1e-6)


def _cart_segment(x: float, theta: float, ended: int = 0, t: int = 6) -> Segment:
    obs = np.tile(np.array([x, 0.1, theta, 0.0], np.float32), (t, 1))
    dones = np.zeros(t, np.float32)
    if ended:
        obs[-ended:] = 0.0
        dones[-ended:] = 1.0
    captions = tuple(CARTPOLE.end_caption if d else CARTPOLE.captioner(o) for o, d in zip(obs, dones, strict=True))
    return Segment(obs, np.ones((t, 1), np.float32), np.ones(t, np.float32), dones, captions)


def test_mirrored_pairs_keep_the_preference_and_the_split_and_leave_the_padding() -> None:
    a, b, c = _cart_segment(1.5, 0.05, ended=2), _cart_segment(-0.5, 0.0), _cart_segment(0.2, -0.1)
    targets = PreferenceTargets((a, b, c), (b, c, a), np.array([0.0, 1.0, 0.5], np.float32), np.array([0, 1, 0], bool))
    out = with_mirrored_pairs(targets, CARTPOLE)
    assert len(out) == 6 and out.val.tolist() == [False, True, False, False, True, False]
    assert out.prefs.tolist() == [0.0, 1.0, 0.5, 0.0, 1.0, 0.5]
    assert out.keys[3:] == ("0|mirror", "1|mirror", "2|mirror")
    ma = out.first[3]
    assert out.second[5] is ma  # a segment used in several pairs is mirrored once
    np.testing.assert_array_equal(ma.obs[:4], -a.obs[:4])
    np.testing.assert_array_equal(ma.obs[4:], 0.0)  # the absorbing rows stay the all-zero state
    np.testing.assert_array_equal(ma.acts[:4], 0.0)  # pushes right (1) become pushes left (0)
    assert ma.captions[0] == CARTPOLE.captioner(-a.obs[0]) and "left" in ma.captions[0]
    assert ma.captions[-1] == CARTPOLE.end_caption
    assert out.first[3].key != a.key and mirror_segment(mirror_segment(a, CARTPOLE), CARTPOLE).key == a.key


def test_a_judge_that_favours_one_side_leaves_no_slope_when_mirrored() -> None:
    """A judge prefers upright poles, and also (wrongly) carts right of centre: the mirror removes the second."""
    rng = np.random.default_rng(0)
    segs = [_cart_segment(float(rng.uniform(-2, 2)), float(rng.uniform(-0.2, 0.2))) for _ in range(120)]

    def liked(s: Segment) -> float:
        return -abs(float(s.obs[0, 2])) * 10 + 0.5 * float(s.obs[0, 0])  # upright first, then "right"

    i, j = rng.integers(0, len(segs), 400), rng.integers(0, len(segs), 400)
    keep = i != j
    targets = PreferenceTargets(
        tuple(segs[k] for k in i[keep]),
        tuple(segs[k] for k in j[keep]),
        np.array(
            [1.0 if liked(segs[a]) > liked(segs[b]) else 0.0 for a, b in zip(i[keep], j[keep], strict=True)], np.float32
        ),
        rng.random(int(keep.sum())) < 0.2,  # held out as the loop does: early stopping reads these
    )
    # Right-of-centre states, their mirror images, and tilted poles at the centre (averaged: one point is noisy).
    right = np.array([[x, 0.0, th, 0.0] for x in (0.5, 1.0, 1.5, 2.0) for th in (-0.05, 0.0, 0.05)], np.float32)
    tilted = np.array([[0.0, 0.0, th, 0.0] for th in (-0.15, 0.15)], np.float32)
    probe = np.concatenate([right, -right, tilted])
    n = len(right)
    slopes, upright = [], []
    for mirrored in (False, True):
        cfg = RewardConfig.model_validate({"ensemble_size": 1, "hidden_sizes": [32, 32], "flatness": 0})
        model = RewardEnsemble(Featurizer(4, gym.spaces.Discrete(2), use_action=False), cfg, seed=0)
        model.fit(with_mirrored_pairs(targets, CARTPOLE) if mirrored else targets, np.random.default_rng(0))
        r = model.predict(probe, np.zeros((len(probe), 1), np.float32), np.zeros(len(probe), np.float32))
        slopes.append(float(np.mean(r[:n] - r[n : 2 * n])))  # right of centre minus left of it
        upright.append(float(np.mean(r[: 2 * n]) - np.mean(r[2 * n :])))  # near upright minus tilted far
    assert slopes[0] > 0.5  # without the mirror the one-sided judge's slope is learned
    assert abs(slopes[1]) < 0.25 * slopes[0]
    assert upright[1] > 0.5 * upright[0] > 0  # what the task cares about survives


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["task.id=mountaincar/reach-flag-v0"], "declares no mirror symmetry"),
        (["query.kind=episode", "reward.model=episode_classifier"], "not preference pairs"),
    ],
)
def test_mirror_is_refused_where_it_cannot_apply(sets: list[str], message: str) -> None:
    cfg = load_config(None, ["name=mirror-check", "task.id=cartpole/balance-v0", "reward.mirror=true", *sets])
    with pytest.raises(ConfigError, match=rf"reward\.mirror: .*{message}.*reward\.mirror=false"):
        validate_references(cfg)
