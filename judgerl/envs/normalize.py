"""Running reward scaling that never shifts the reward's mean.

Why scale only: with episodes that can terminate (CartPole, MountainCar) the
value of ending an episode is zero, so adding a constant to every step reward
changes whether living is worth more than dying. Subtracting a running mean, as
SB3's ``VecNormalize`` does for observations, could flip a "stay alive" reward
into a "fall fast" one. Dividing by a positive scale keeps every sign.
"""

from __future__ import annotations

from typing import Literal

import numpy as np


class RunningRewardScale:
    """Divide rewards by a running scale estimated from the rewards seen so far.

    The scale is the root mean square of the rewards (``statistic="rms"``,
    default) or their standard deviation (``"std"``). RMS is the safer default:
    a reward that is nearly constant but non-zero (a learned CartPole reward
    after the absorbing offset) has a tiny std, and dividing by it would blow the
    rewards up, while its RMS is its size.

    Args:
        statistic: ``"rms"`` or ``"std"``.
        momentum: ``None`` for exact running moments over everything seen
            (Chan et al.'s parallel Welford update), or an EMA weight in
            ``(0, 1)`` given to each new batch so the scale tracks a reward model
            that changes between fits.
        eps: Floor on the scale, so rewards that are all ~0 are not inflated.
    """

    def __init__(self, statistic: Literal["rms", "std"] = "rms", momentum: float | None = None, eps: float = 1e-4):
        if statistic not in ("rms", "std"):
            raise ValueError(f"statistic must be 'rms' or 'std', got {statistic!r}")
        if momentum is not None and not 0.0 < momentum < 1.0:
            raise ValueError(f"momentum must lie in (0, 1) or be None, got {momentum}")
        self.statistic = statistic
        self.momentum = momentum
        self.eps = eps
        self.count = 0
        self.mean = 0.0
        self.var = 0.0

    @property
    def scale(self) -> float:
        """The current divisor (1.0 before any update)."""
        if self.count == 0:
            return 1.0
        second = self.var if self.statistic == "std" else self.var + self.mean**2
        return max(float(np.sqrt(second)), self.eps)

    def update(self, rewards: np.ndarray) -> None:
        """Fold a batch of raw rewards, shape ``(N,)``, into the running moments."""
        r = np.asarray(rewards, dtype=np.float64).ravel()
        if r.size == 0:
            return
        # Sums instead of r.mean()/r.var(): this runs every env step on ~8 values, where
        # numpy's reduction machinery costs more than the arithmetic.
        b_n = int(r.size)
        b_mean = float(r.sum()) / b_n
        b_var = max(float(np.dot(r, r)) / b_n - b_mean * b_mean, 0.0)
        if self.count == 0:
            self.mean, self.var = b_mean, b_var
        elif self.momentum is not None:
            m = self.momentum
            delta = b_mean - self.mean
            self.mean += m * delta
            self.var = (1 - m) * (self.var + m * delta**2) + m * b_var
        else:
            total = self.count + b_n
            delta = b_mean - self.mean
            self.mean += delta * b_n / total
            self.var = (self.var * self.count + b_var * b_n + delta**2 * self.count * b_n / total) / total
        self.count += b_n

    def __call__(self, rewards: np.ndarray) -> np.ndarray:
        """Scaled rewards, same shape as ``rewards``, float32."""
        return (np.asarray(rewards, dtype=np.float32) / np.float32(self.scale)).astype(np.float32)

    def state(self) -> dict[str, float]:
        """The running statistics, JSON-able (saved in ``state.json`` for resume)."""
        return {"count": self.count, "mean": self.mean, "var": self.var}

    def load_state(self, state: dict[str, float]) -> None:
        """Restore statistics written by :meth:`state`."""
        self.count, self.mean, self.var = int(state["count"]), float(state["mean"]), float(state["var"])

    def reset(self) -> None:
        """Forget all statistics (e.g. after swapping in a very different reward model)."""
        self.count, self.mean, self.var = 0, 0.0, 0.0
