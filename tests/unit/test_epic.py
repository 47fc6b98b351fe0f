"""EPIC (judgerl.evaluation.epic) against answers known in closed form (Gleave et al. 2020, arXiv:2006.13900)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from judgerl.evaluation.epic import (
    DegenerateRewardError,
    EpicSamples,
    RewardFn,
    average_ranks,
    canonicalize,
    correlation,
    epic,
    pearson_distance,
    sample_transitions,
    state_action_reward,
    state_reward,
)
from judgerl.evaluation.true_reward import get_true_reward, pendulum_reward

PENDULUM = get_true_reward("pendulum/swingup-v0")
N_COVERAGE, N_MEAN, GAMMA = 4096, 256, 0.9


def torques(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-2.0, 2.0, size=(n, 1))


def samples(seed: int = 0, n: int = N_COVERAGE, n_mean: int = N_MEAN) -> EpicSamples:
    return sample_transitions(PENDULUM.sample_states, torques, np.random.default_rng(seed), n, n_mean, GAMMA)


def potential(obs: np.ndarray) -> np.ndarray:
    """A non-linear potential of the state (cos, sin, angular velocity)."""
    return 30.0 * np.sin(2.0 * obs[:, 0]) + 2.0 * obs[:, 2] ** 2 - 10.0 * obs[:, 1]


TRUE = state_action_reward(pendulum_reward, "true")


def shaped(scale: float, shift: float, gamma: float = GAMMA) -> RewardFn:
    """``scale·R(s, a) + γΦ(s') − Φ(s) + shift``: reads the whole transition."""
    return RewardFn(
        lambda o, a, n: scale * pendulum_reward(o, a) + gamma * potential(n) - potential(o) + shift, "sas", "shaped"
    )


def test_potential_shaped_rescaled_reward_is_at_distance_zero() -> None:
    # The same pairs (A_j, S'_j) serve every expectation, so shaping cancels exactly, not just in expectation.
    res = epic(TRUE, shaped(3.7, -5.0), samples())
    assert res.distance < 1e-6
    assert res.canonical_pearson > 1 - 1e-10
    # ...while the raw rewards are visibly different: the shaping term is large.
    assert res.pearson < 0.5


def test_shaping_with_another_discount_is_not_removed() -> None:
    # Invariance is to shaping with the canonicalisation's own gamma: a check that can fail.
    res = epic(TRUE, shaped(1.0, 0.0, gamma=0.3), samples())
    assert res.distance > 0.05


def test_negation_is_at_distance_one() -> None:
    neg = state_action_reward(lambda o, a: -pendulum_reward(o, a), "negated")
    assert epic(TRUE, neg, samples()).distance == pytest.approx(1.0, abs=1e-9)
    # Negation survives shaping: -R shaped is still at distance 1.
    assert epic(shaped(2.0, 1.0), neg, samples()).distance == pytest.approx(1.0, abs=1e-6)


def noise_reward(seed: int) -> RewardFn:
    """A reward independent of everything else: high-frequency random features of (s, a, s')."""
    r = np.random.default_rng(1000 + seed)
    w = r.normal(size=(7, 16)) * 500.0
    b = r.uniform(0, 2 * np.pi, size=16)
    v = r.normal(size=16)
    return RewardFn(lambda o, a, n: np.sin(np.concatenate([o, a, n], axis=1) @ w + b) @ v, "sas", "noise")


def test_independent_random_reward_is_near_0707() -> None:
    # rho_hat of independent samples has sd ~ 1/sqrt(N); d = sqrt((1-rho)/2) moves by 1/(4 d) = 0.354 per unit rho
    # at rho = 0, so sd(d) ~ 0.354/sqrt(N) = 0.0055 at N = 4096. Mean over 4 draws: sd 0.0028; bar = 4 sd.
    # (The mean samples only set how well shaping is removed, which an independent reward does not need: 64 suffice.)
    ds = [epic(TRUE, noise_reward(k), samples(seed=k, n_mean=64)).distance for k in range(4)]
    bar = 4 * 0.354 / math.sqrt(N_COVERAGE) / math.sqrt(len(ds))
    assert abs(float(np.mean(ds)) - 1 / math.sqrt(2)) < bar, ds
    # each single draw within 5 of its own sd
    assert all(abs(d - 1 / math.sqrt(2)) < 5 * 0.354 / math.sqrt(N_COVERAGE) for d in ds), ds


def test_declaring_fewer_inputs_only_saves_work() -> None:
    s = samples(n=512)
    as_sas = RewardFn(lambda o, a, n: pendulum_reward(o, a), "sas")
    assert np.allclose(canonicalize(TRUE, s), canonicalize(as_sas, s), atol=1e-9)
    only_s = state_reward(lambda o: -(o[:, 2] ** 2))
    only_s_sas = RewardFn(lambda o, a, n: -(o[:, 2] ** 2), "sas")
    assert np.allclose(canonicalize(only_s, s), canonicalize(only_s_sas, s), atol=1e-9)


def test_state_reward_canonicalises_to_its_next_state_value() -> None:
    # C(R)(s,a,s') = gamma (R(s') - E R) for R(s): the state before the step cancels.
    s = samples(n=512)
    r = state_reward(lambda o: o[:, 0] ** 3)
    expected = GAMMA * (s.next_obs[:, 0] ** 3 - np.mean(s.mean_states[:, 0] ** 3))
    assert np.allclose(canonicalize(r, s), expected, atol=1e-12)


def test_constant_reward_is_a_clear_error_not_nan() -> None:
    const = state_action_reward(lambda o, a: np.full(len(o), 2.5), "constant")
    with pytest.raises(DegenerateRewardError, match="constant is constant"):
        epic(TRUE, const, samples(n=256))
    # Pure shaping of a constant: varies raw, canonicalises to 0.
    pure = RewardFn(lambda o, a, n: GAMMA * potential(n) - potential(o) + 1.0, "sas", "shaping")
    with pytest.raises(DegenerateRewardError, match="canonicalised"):
        epic(TRUE, pure, samples(n=256))
    with pytest.raises(DegenerateRewardError):
        correlation(np.ones(10), np.arange(10.0))


def test_correlation_helpers() -> None:
    x = np.array([1.0, 2.0, 2.0, 3.0, 10.0])
    assert average_ranks(x).tolist() == [1.0, 2.5, 2.5, 4.0, 5.0]
    c = correlation(x, x**3)
    assert c.spearman == pytest.approx(1.0)
    assert c.pearson < 0.99
    assert pearson_distance(x, -x) == pytest.approx(1.0)
    assert pearson_distance(x, 2 * x + 1) == pytest.approx(0.0, abs=1e-7)
    scipy_stats = pytest.importorskip("scipy.stats")
    r = np.random.default_rng(0)
    a, b = r.integers(0, 5, 200).astype(float), r.normal(size=200)
    assert correlation(a, b).spearman == pytest.approx(scipy_stats.spearmanr(a, b).statistic, abs=1e-12)
