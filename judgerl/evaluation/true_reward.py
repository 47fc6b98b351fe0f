"""The tasks' true rewards as functions of (state, action), with the state ranges to sample them on.

What EPIC (``judgerl.evaluation.epic``), ``judgerl evaluate --against true``,
``judgerl sweep-alpha`` and the reward landscapes compare learned and zero-shot
rewards with. Each function reproduces the env's reward for the step taken
from observation ``s`` with action ``a`` (checked against gymnasium 1.2.0 step
by step in ``tests/unit/test_true_reward.py``):

* Pendulum-v1: ``−(θ² + 0.1 θ̇² + 0.001 u²)`` with ``θ = atan2(sin, cos)`` in
  ``[−π, π]`` and the torque ``u`` clipped to ``[−2, 2]`` (gymnasium's formula).
* CartPole-v1: 1 for every step taken from a live state (the terminating step
  included, as gymnasium pays it), 0 from the absorbing state after the end.
* MountainCar-v0: −1 for every step taken before the flag (the step that reaches
  it included), 0 from the absorbing state.

Episode ends: a state the task calls terminal (``TrueReward.terminal``) stands
for the absorbing state; every reward compared with the true one pays 0 there
(``judgerl.evaluation.reward_compare``), as a finished episode pays nothing.

State ranges (``TrueReward.sample_states``, uniform): Pendulum ``θ ∈ [−π, π]``,
``θ̇ ∈ [−8, 8]`` (the env's limits); CartPole ``x ∈ [−3, 3]``, ``ẋ ∈ [−2, 2]``,
``θ ∈ [−0.3, 0.3]`` rad, ``θ̇ ∈ [−2.5, 2.5]`` (past the termination bounds
``|x| > 2.4``, ``|θ| > 12°``, so about 44 % of the samples are terminal: without
them CartPole's reward is the constant 1 and compares with nothing);
MountainCar the observation box ``x ∈ [−1.2, 0.6]``, ``v ∈ [−0.07, 0.07]``.
A task without an entry here has no true reward for EPIC (``get_true_reward`` says so).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from judgerl.configbase import ConfigError


@dataclass(frozen=True)
class TrueReward:
    """A task's true reward and the states it is compared on.

    Attributes:
        task_id: The task.
        reward: ``R(s, a)``: ``(obs (N, O), acts (N, A)) -> (N,)`` float64, 0 on terminal states.
        reads: ``"s"`` when ``reward`` ignores the action, else ``"sa"``.
        low: Lower corner of the sampling box, in the coordinates ``to_obs`` takes, shape ``(K,)``.
        high: Upper corner, shape ``(K,)``.
        to_obs: Maps box coordinates ``(N, K)`` to observation rows ``(N, O)`` (Pendulum: angle to cos/sin).
        terminal: ``(obs (N, O)) -> (N,)`` bool, the states that stand for the absorbing state; ``None`` when
            episodes only end by the time limit.
    """

    task_id: str
    reward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    reads: str
    low: tuple[float, ...]
    high: tuple[float, ...]
    to_obs: Callable[[np.ndarray], np.ndarray]
    terminal: Callable[[np.ndarray], np.ndarray] | None = None

    def sample_states(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` states uniform over the box, as observation rows ``(n, O)`` float64."""
        box = rng.uniform(np.asarray(self.low), np.asarray(self.high), size=(n, len(self.low)))
        return np.asarray(self.to_obs(box), np.float64)

    def is_terminal(self, obs: np.ndarray) -> np.ndarray:
        """Terminal (absorbing) flags of ``obs`` ``(N, O)``, shape ``(N,)`` bool."""
        o = np.atleast_2d(np.asarray(obs, np.float64))
        return np.zeros(len(o), bool) if self.terminal is None else np.asarray(self.terminal(o), bool)


def _rows(x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(np.asarray(x, np.float64))


# ── Pendulum-v1 ─────────────────────────────────────────────────────────────────────


def pendulum_reward(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """Gymnasium's Pendulum reward ``−(θ² + 0.1 θ̇² + 0.001 u²)`` of obs ``(N, 3)`` and torques ``(N, 1)``."""
    o, a = _rows(obs), _rows(acts)
    theta = np.arctan2(o[:, 1], o[:, 0])
    u = np.clip(a[:, 0], -2.0, 2.0)
    return -(theta**2 + 0.1 * o[:, 2] ** 2 + 0.001 * u**2)


def _pendulum_obs(box: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(box[:, 0]), np.sin(box[:, 0]), box[:, 1]], axis=1)


# ── CartPole-v1 ─────────────────────────────────────────────────────────────────────

CARTPOLE_X_LIMIT = 2.4
CARTPOLE_THETA_LIMIT = 12 * 2 * math.pi / 360  # gymnasium's theta_threshold_radians


def cartpole_terminal(obs: np.ndarray) -> np.ndarray:
    """Whether each state ``(N, 4)`` is past gymnasium's termination bounds, shape ``(N,)`` bool."""
    o = _rows(obs)
    return (np.abs(o[:, 0]) > CARTPOLE_X_LIMIT) | (np.abs(o[:, 2]) > CARTPOLE_THETA_LIMIT)


def cartpole_reward(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """1 from a live state, 0 from the absorbing (terminal) state; shape ``(N,)``."""
    return (~cartpole_terminal(obs)).astype(np.float64)


# ── MountainCar-v0 ──────────────────────────────────────────────────────────────────

MOUNTAINCAR_FLAG = 0.5


def mountaincar_terminal(obs: np.ndarray) -> np.ndarray:
    """Gymnasium's goal test ``x ≥ 0.5 and v ≥ 0`` for states ``(N, 2)``, shape ``(N,)`` bool."""
    o = _rows(obs)
    return (o[:, 0] >= MOUNTAINCAR_FLAG) & (o[:, 1] >= 0.0)


def mountaincar_reward(obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """−1 from a state before the flag, 0 from the absorbing state; shape ``(N,)``."""
    return -(~mountaincar_terminal(obs)).astype(np.float64)


def _identity(box: np.ndarray) -> np.ndarray:
    return box


_TRUE_REWARDS: dict[str, TrueReward] = {}


def register_true_reward(spec: TrueReward, replace: bool = False) -> None:
    """Make ``spec`` the true reward of its task (plugins add theirs here).

    Raises:
        ValueError: The task has one and ``replace`` is False.
    """
    if spec.task_id in _TRUE_REWARDS and not replace:
        raise ValueError(f"task {spec.task_id!r} already has a true reward; pass replace=True")
    _TRUE_REWARDS[spec.task_id] = spec


def get_true_reward(task_id: str) -> TrueReward:
    """The true reward of ``task_id``.

    Raises:
        ConfigError: The task has none (names those that do).
    """
    try:
        return _TRUE_REWARDS[task_id]
    except KeyError:
        known = ", ".join(sorted(_TRUE_REWARDS))
        raise ConfigError(
            f"task {task_id!r} has no true reward function for reward evaluation (tasks with one: {known}); "
            "compare two runs with --against RUN_DIR instead"
        ) from None


def has_true_reward(task_id: str) -> bool:
    """Whether ``task_id`` has a registered true reward."""
    return task_id in _TRUE_REWARDS


for _spec in (
    TrueReward("pendulum/swingup-v0", pendulum_reward, "sa", (-math.pi, -8.0), (math.pi, 8.0), _pendulum_obs),
    TrueReward(
        "cartpole/balance-v0",
        cartpole_reward,
        "s",
        (-3.0, -2.0, -0.3, -2.5),
        (3.0, 2.0, 0.3, 2.5),
        _identity,
        cartpole_terminal,
    ),
    TrueReward(
        "mountaincar/reach-flag-v0",
        mountaincar_reward,
        "s",
        (-1.2, -0.07),
        (0.6, 0.07),
        _identity,
        mountaincar_terminal,
    ),
):
    register_true_reward(_spec)
