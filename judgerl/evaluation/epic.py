"""EPIC: how far apart two reward functions are, whatever their shaping and scale.

Gleave, Dennis, Legg, Russell, Leike (2020), "Quantifying Differences in Reward
Functions", arXiv:2006.13900. Two rewards that differ only by potential shaping
``γΦ(s') − Φ(s)``, a positive scale or a constant induce the same optimal
policies in every MDP with the same states and actions; EPIC maps each reward to
a *canonical* representative that removes shaping,

    C(R)(s, a, s') = R(s, a, s') + γ E[R(s', A, S')] − E[R(s, A, S')] − γ E[R(S, A, S')]

with ``S, S' ~ D_S`` and ``A ~ D_A`` independent, then compares the canonical
rewards by the Pearson distance ``d = sqrt((1 − ρ)/2)`` over a *coverage*
distribution of transitions ``(s, a, s')``. ``d`` is 0 for equivalent rewards,
1 for a reward and its negation, and ``1/√2 ≈ 0.707`` for independent ones.

Sample-based estimate (as in HumanCompatibleAI/evaluating-rewards,
``distances/epic_sample.py::sample_canon_shaping``, read for this module; the
code here is our own): draw ``M`` pairs ``(A_j, S'_j)`` once and use them for
every expectation: ``E[R(x, A, S')] ≈ mean_j R(x, A_j, S'_j)`` and
``E[R(S, A, S')] ≈ mean_k mean_j R(S'_k, A_j, S'_j)``. Using the *same* state
samples for ``S'`` and ``S`` makes the estimate remove potential shaping
exactly, not only in expectation (``C(F) = 0`` algebraically for
``F = γΦ(s') − Φ(s)``), so the shaping test can use a tight bar.
evaluating-rewards also sets ``dones`` to False because EPIC is defined for
infinite-horizon MDPs; judgerl does the same and models an episode's end as an
absorbing state instead (``judgerl.evaluation.reward_compare``).

What a reward reads (``RewardFn.reads``) only saves work: a reward of ``s``
alone has ``E[R(x, A, S')] = R(x)`` exactly, one of ``(s, a)`` is averaged over
the ``M`` sampled actions only. Every judgerl reward model is ``R(s, a)`` on the
observation before the step (``judgerl.reward.base.RewardModel``).

Observations and actions are flat float rows (``judgerl.envs.spaces``): states
``(N, O)``, actions ``(N, A)`` (discrete actions as float indices).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Reads = Literal["s", "sa", "sas"]
TransitionFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``(obs (N, O), acts (N, A), next_obs (N, O)) -> rewards (N,)``."""

# Rows per reward call when averaging over the M samples (bounds memory: obs rows are repeated M times).
_CHUNK_ROWS = 1 << 18


class DegenerateRewardError(ValueError):
    """A reward is constant on the sampled transitions (after canonicalisation): EPIC and correlations are undefined."""


@dataclass(frozen=True)
class RewardFn:
    """A reward ``R(s, a, s')`` over batches of flat rows, and which of its inputs it reads.

    Attributes:
        fn: ``(obs (N, O), acts (N, A), next_obs (N, O)) -> (N,)``.
        reads: ``"s"`` (state before the step only), ``"sa"`` (state and action),
            or ``"sas"`` (the whole transition). A smaller set only saves work;
            declaring more than the reward reads is always correct.
        name: Shown in errors and tables.
    """

    fn: TransitionFn
    reads: Reads = "sas"
    name: str = "reward"

    def __call__(self, obs: np.ndarray, acts: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
        """Rewards of ``N`` transitions as float64, shape ``(N,)``."""
        out = np.asarray(self.fn(obs, acts, next_obs), dtype=np.float64).reshape(-1)
        if out.shape != (len(obs),):
            raise ValueError(f"{self.name}: expected {len(obs)} rewards, got shape {out.shape}")
        return out


def state_reward(f: Callable[[np.ndarray], np.ndarray], name: str = "reward") -> RewardFn:
    """Wrap ``R(s)``: ``f(obs (N, O)) -> (N,)``."""
    return RewardFn(lambda o, a, n: f(o), "s", name)


def state_action_reward(f: Callable[[np.ndarray, np.ndarray], np.ndarray], name: str = "reward") -> RewardFn:
    """Wrap ``R(s, a)``: ``f(obs (N, O), acts (N, A)) -> (N,)``."""
    return RewardFn(lambda o, a, n: f(o, a), "sa", name)


@dataclass(frozen=True)
class EpicSamples:
    """The transitions EPIC is measured on and the samples its expectations use.

    Attributes:
        obs: Coverage states ``s``, shape ``(N, O)``.
        acts: Coverage actions ``a``, shape ``(N, A)``.
        next_obs: Coverage next states ``s'``, shape ``(N, O)``.
        mean_acts: ``A_j ~ D_A``, shape ``(M, A)``.
        mean_states: ``S'_j ~ D_S``, shape ``(M, O)``; also the ``S`` of the total mean.
        gamma: Discount of the shaping the canonicalisation removes.
    """

    obs: np.ndarray
    acts: np.ndarray
    next_obs: np.ndarray
    mean_acts: np.ndarray
    mean_states: np.ndarray
    gamma: float

    def __post_init__(self) -> None:
        n, m = len(self.obs), len(self.mean_states)
        if len(self.acts) != n or len(self.next_obs) != n or len(self.mean_acts) != m:
            raise ValueError("EpicSamples: obs/acts/next_obs and mean_acts/mean_states must pair up row by row")
        if n < 3 or m < 1:
            raise ValueError(f"EpicSamples: need at least 3 coverage transitions and 1 mean sample, got {n}, {m}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {self.gamma}")


def sample_transitions(
    sample_states: Callable[[int, np.random.Generator], np.ndarray],
    sample_actions: Callable[[int, np.random.Generator], np.ndarray],
    rng: np.random.Generator,
    n_coverage: int = 4096,
    n_mean: int = 512,
    gamma: float = 0.99,
) -> EpicSamples:
    """Independent transitions: ``s, s' ~ D_S`` and ``a ~ D_A``, all independent (Gleave et al.'s sampled EPIC).

    Args:
        sample_states: ``(n, rng) -> (n, O)`` draws from ``D_S``.
        sample_actions: ``(n, rng) -> (n, A)`` draws from ``D_A``.
        rng: Random stream.
        n_coverage: ``N`` coverage transitions (the Pearson distance's sample size).
        n_mean: ``M`` samples behind every expectation of the canonicalisation.
        gamma: Discount.

    Returns:
        The samples.
    """
    return EpicSamples(
        obs=np.asarray(sample_states(n_coverage, rng), np.float64),
        acts=np.asarray(sample_actions(n_coverage, rng), np.float64),
        next_obs=np.asarray(sample_states(n_coverage, rng), np.float64),
        mean_acts=np.asarray(sample_actions(n_mean, rng), np.float64),
        mean_states=np.asarray(sample_states(n_mean, rng), np.float64),
        gamma=float(gamma),
    )


def _mean_from(reward: RewardFn, states: np.ndarray, samples: EpicSamples) -> np.ndarray:
    """``E[R(x, A, S')]`` for each row ``x`` of ``states`` ``(K, O)``, shape ``(K,)``."""
    k, m = len(states), len(samples.mean_states)
    if reward.reads == "s":
        dummy_a = np.repeat(samples.mean_acts[:1], k, axis=0)
        return reward(states, dummy_a, states)
    out = np.empty(k)
    per = max(1, _CHUNK_ROWS // m)
    for lo in range(0, k, per):
        x = states[lo : lo + per]
        rows = np.repeat(x, m, axis=0)
        acts = np.tile(samples.mean_acts, (len(x), 1))
        nxt = np.tile(samples.mean_states, (len(x), 1))
        out[lo : lo + per] = reward(rows, acts, nxt).reshape(len(x), m).mean(axis=1)
    return out


def canonicalize(reward: RewardFn, samples: EpicSamples) -> np.ndarray:
    """EPIC's canonically shaped reward on the coverage transitions.

    Args:
        reward: The reward.
        samples: Coverage transitions and the expectation samples.

    Returns:
        ``C(R)(s, a, s')`` for each coverage transition, shape ``(N,)`` float64.
    """
    n = len(samples.obs)
    raw = reward(samples.obs, samples.acts, samples.next_obs)
    # Every state an expectation starts from, each evaluated once.
    states = np.concatenate([samples.obs, samples.next_obs, samples.mean_states])
    uniq, inverse = np.unique(states, axis=0, return_inverse=True)
    means = _mean_from(reward, uniq, samples)[inverse.reshape(-1)]
    from_s, from_next, from_pool = means[:n], means[n : 2 * n], means[2 * n :]
    g = samples.gamma
    return raw + g * from_next - from_s - g * float(from_pool.mean())


def _check_spread(x: np.ndarray, scale: float, name: str, what: str) -> None:
    """Raise ``DegenerateRewardError`` when ``x`` is constant relative to ``scale``."""
    if not np.all(np.isfinite(x)):
        raise DegenerateRewardError(f"{name}: non-finite values in the {what}")
    spread = float(np.std(x))
    if spread <= 1e-9 * max(scale, 1e-300):
        raise DegenerateRewardError(
            f"{name} is constant on the sampled transitions ({what} spread {spread:.3g}): it prefers nothing, so "
            "EPIC and correlations are undefined. Sample states where it differs (for a reward that is constant "
            "while an episode lasts, e.g. CartPole's, include terminal states) or compare another reward."
        )


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equally long samples.

    Raises:
        DegenerateRewardError: Either sample is constant.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    _check_spread(x, float(np.max(np.abs(x))), "first", "values")
    _check_spread(y, float(np.max(np.abs(y))), "second", "values")
    xc, yc = x - x.mean(), y - y.mean()
    rho = float(np.dot(xc, yc) / np.sqrt(np.dot(xc, xc) * np.dot(yc, yc)))
    return float(np.clip(rho, -1.0, 1.0))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..N with ties given their average rank (zero-shot caption rewards tie a lot)."""
    _, inverse, counts = np.unique(np.asarray(x), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse.reshape(-1)]


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson of average ranks).

    Raises:
        DegenerateRewardError: Either sample is constant.
    """
    return pearson(average_ranks(x), average_ranks(y))


@dataclass(frozen=True)
class Correlation:
    """Plain correlation of two rewards on the same transitions (no canonicalisation)."""

    pearson: float
    spearman: float


def correlation(x: np.ndarray, y: np.ndarray) -> Correlation:
    """Pearson and Spearman correlation of two samples (e.g. two rewards on the same transitions).

    Args:
        x: Shape ``(N,)``.
        y: Shape ``(N,)``.

    Returns:
        Both coefficients.

    Raises:
        DegenerateRewardError: Either sample is constant.
    """
    return Correlation(pearson(x, y), spearman(x, y))


def pearson_distance(x: np.ndarray, y: np.ndarray) -> float:
    """``sqrt((1 − ρ)/2)`` of two samples: 0 identical up to positive affine maps, 1 negated, ~0.707 unrelated."""
    return float(np.sqrt(max(0.0, (1.0 - pearson(x, y)) / 2.0)))


@dataclass(frozen=True)
class EpicResult:
    """EPIC and plain correlations between two rewards on the same coverage transitions.

    Attributes:
        distance: EPIC distance ``sqrt((1 − ρ_C)/2)`` in ``[0, 1]``.
        canonical_pearson: ``ρ_C`` of the canonicalised rewards.
        pearson: Plain Pearson correlation of the raw rewards on the coverage transitions.
        spearman: Plain Spearman correlation of the raw rewards.
        n_coverage: Coverage transitions ``N``.
        n_mean: Samples ``M`` per expectation.
        gamma: Discount.
    """

    distance: float
    canonical_pearson: float
    pearson: float
    spearman: float
    n_coverage: int
    n_mean: int
    gamma: float

    def as_metrics(self, prefix: str) -> dict[str, float]:
        """Every field as ``{prefix}/<field>`` (``distance``, ``canonical_pearson``, ``pearson``, ...)."""
        return {f"{prefix}/{k}": float(v) for k, v in self.__dict__.items()}


def epic(first: RewardFn, second: RewardFn, samples: EpicSamples) -> EpicResult:
    """EPIC distance and plain correlations between two rewards.

    Args:
        first: A reward.
        second: Another reward over the same rows.
        samples: Coverage transitions and expectation samples (``sample_transitions``).

    Returns:
        The distance and correlations.

    Raises:
        DegenerateRewardError: A reward is constant on the coverage transitions
            or canonicalises to a constant (it is then potential shaping of a
            constant, i.e. indifferent between all policies).
    """
    raws, canons = [], []
    for r in (first, second):
        raw = r(samples.obs, samples.acts, samples.next_obs)
        _check_spread(raw, float(np.max(np.abs(raw))), r.name, "raw reward")
        canon = canonicalize(r, samples)
        _check_spread(canon, float(np.max(np.abs(raw))), r.name, "canonicalised reward")
        raws.append(raw)
        canons.append(canon)
    rho_c = pearson(canons[0], canons[1])
    corr = correlation(raws[0], raws[1])
    return EpicResult(
        distance=float(np.sqrt(max(0.0, (1.0 - rho_c) / 2.0))),
        canonical_pearson=rho_c,
        pearson=corr.pearson,
        spearman=corr.spearman,
        n_coverage=len(samples.obs),
        n_mean=len(samples.mean_states),
        gamma=samples.gamma,
    )
