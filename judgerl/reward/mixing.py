"""Reward mixing: the agent's reward ``r = a·r_env + b·g(r̂) + c·x``, one term per config key.

``r̂`` is the learned reward (after the absorbing-state offset), ``r_env`` the
environment's own reward and ``g`` a chain of optional transforms, applied in
this order (``reward.mix``):

1. **normalise**: ``running`` divides by the running root mean square of ``r̂``
   (scale only: a shift would change whether ending an episode pays, see
   ``judgerl.envs.normalize``); ``dataset`` z-scores with the mean and standard
   deviation of ``r̂`` over the labelled data at the last fit (Motif); ``none``.
2. **threshold**: ``1[r̂ > ε]`` with ``ε`` the ``threshold_quantile`` of ``r̂``
   over the labelled data at the last fit (Motif keeps only the rewarding
   messages). The normalisations are increasing maps, so the cut is taken on
   ``r̂`` itself and is the same whichever normalisation is chosen.
3. **count decay**: divide by ``N(key)^β``, ``N`` the number of times the key (the
   step's caption, or its observation) has been seen so far in this episode,
   this step included (Motif's ``1/N(message)^β`` against reward farming by
   repetition).

``x`` is the step's exploration count (``reward.mix.explore_weight = c``, 0 by
default): the cells of the level the step saw for the first time, which the
envs of tasks with ``TaskSpec.explores`` put in ``info`` (NetHack; decision 0052).

With ``reward.mix.normalize_return`` the sum is last divided by the running standard
deviation of its discounted return (each env's ``R ← γ·R + r``, restarted at episode
ends, ``γ`` the agent's) and clipped to ``±return_clip``: SB3's
``VecNormalize(norm_reward=True)``, kept here so its statistics travel with the
mixer's into every checkpoint and a resumed run goes on exactly (decision 0056).

Today's default (``a = 0, b = 1``, running normalisation) reproduces judgerl's
earlier "learned reward replaces the env reward". Seed 003's feedback agent is
``a = 1, b = w`` over an episode classifier; Motif is ``a = 0.1``-ish, dataset
normalisation, a threshold and ``β = 3``. Each term's mean per agent step is
reported as ``reward/env``, ``reward/learned`` and ``reward/mixed`` (and the
exploration count per step as ``reward/explored`` when ``c`` is not 0).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from judgerl.envs.normalize import RunningRewardScale
from judgerl.reward.config import MixConfig

_EPS = 1e-8


class RewardMixer:
    """Turns learned and env rewards of ``N`` envs into the agent's reward, keeping per-env episode counts.

    Args:
        cfg: The mixing config (``reward.mix``).
        n_envs: Number of envs ``N``.
        momentum: EMA weight of the running scale (``env.reward_scale_momentum``), or ``None``.
        gamma: Discount of the return that ``normalize_return`` divides by; the loop sets the agent's.
    """

    def __init__(self, cfg: MixConfig, n_envs: int, momentum: float | None = None, gamma: float = 0.99) -> None:
        self.cfg = cfg
        self.n_envs = int(n_envs)
        self.scale = RunningRewardScale(momentum=momentum) if cfg.normalize == "running" else None
        self.gamma = float(gamma)
        # std, not RMS, of the returns (as VecNormalize): a return's mean is what the value function learns.
        self.return_scale = RunningRewardScale(statistic="std") if cfg.normalize_return else None
        self._returns = np.zeros(self.n_envs, np.float64)  # each env's discounted return so far
        self.mean = 0.0
        self.std = 1.0
        self.cut: float | None = None
        self._counts: list[dict[Hashable, int]] = [{} for _ in range(self.n_envs)]
        self._sums = np.zeros(4, np.float64)  # env, learned, mixed, explored
        self._n = 0

    @property
    def needs_keys(self) -> bool:
        """Whether :meth:`mix` needs per-step keys (count decay is on)."""
        return self.cfg.count_decay > 0.0

    def calibrate(self, learned: np.ndarray) -> None:
        """Refit the data-dependent terms on ``r̂`` over the labelled data after a fit, shape ``(M,)``.

        Sets the dataset mean/std and the threshold ``ε``; a running scale is
        reset and re-estimated on these values (a new fit has a new scale).
        """
        r = np.asarray(learned, np.float64).reshape(-1)
        r = r[np.isfinite(r)]
        if r.size == 0:
            return
        self.mean, self.std = float(r.mean()), float(max(r.std(), _EPS))
        q = self.cfg.threshold_quantile
        self.cut = float(np.quantile(r, q)) if q is not None else None
        if self.scale is not None:
            self.scale.reset()
            self.scale.update(r.astype(np.float32))

    def _normalise(self, learned: np.ndarray, update: bool) -> np.ndarray:
        """Normalised ``r̂`` ``(T, N)``; a running scale folds in each row first while ``update``."""
        if self.cfg.normalize == "dataset":
            return ((learned - self.mean) / self.std).astype(np.float32)
        if self.scale is None:
            return learned.astype(np.float32)
        if not update:
            return self.scale(learned)
        out = np.empty_like(learned, dtype=np.float32)
        for t, row in enumerate(learned):
            # In step order: what scoring each step as it happened would have given.
            self.scale.update(row)
            out[t] = self.scale(row)
        return out

    def transform(
        self,
        learned: np.ndarray,
        dones: np.ndarray | None = None,
        keys: Sequence[Sequence[Hashable]] | None = None,
        update: bool = True,
    ) -> np.ndarray:
        """``g(r̂)`` for ``T`` steps of ``N`` envs.

        Args:
            learned: ``r̂``, shape ``(T, N)``.
            dones: Episode ends ``(T, N)`` (count decay forgets an env's counts after its end).
            keys: ``T`` rows of ``N`` keys, required when count decay is on.
            update: Fold the rows into the running scale and the counts (training);
                ``False`` only reads them.

        Returns:
            Shape ``(T, N)`` float32.
        """
        learned = np.asarray(learned, np.float32)
        g = self._normalise(learned, update)
        if self.cut is not None:
            g = np.where(learned > self.cut, g, 0.0).astype(np.float32)
        if self.needs_keys:
            if keys is None or dones is None:
                raise ValueError("count decay needs the step keys and episode ends")
            g = g / self._counts_for(keys, dones, update) ** np.float32(self.cfg.count_decay)
        return g.astype(np.float32)

    def _counts_for(self, keys: Sequence[Sequence[Hashable]], dones: np.ndarray, update: bool) -> np.ndarray:
        """``N(key)`` so far in each env's episode, ``(T, N)`` float32, this step included."""
        out = np.ones((len(keys), self.n_envs), np.float32)
        counts = self._counts if update else [dict(c) for c in self._counts]
        for t, row in enumerate(keys):
            for i, key in enumerate(row):
                n = counts[i].get(key, 0) + 1
                counts[i][key] = n
                out[t, i] = n
                if dones[t, i]:
                    counts[i].clear()
        return out

    @property
    def needs_explored(self) -> bool:
        """Whether :meth:`mix` needs the steps' exploration counts (``explore_weight`` is not 0)."""
        return self.cfg.explore_weight != 0.0

    def mix(
        self,
        env_rewards: np.ndarray,
        learned: np.ndarray,
        dones: np.ndarray | None = None,
        keys: Sequence[Sequence[Hashable]] | None = None,
        update: bool = True,
        explored: np.ndarray | None = None,
    ) -> np.ndarray:
        """The agent's reward ``a·r_env + b·g(r̂) + c·x`` (over its return's std with ``normalize_return``), ``(T, N)``.

        Args:
            env_rewards: ``r_env``, shape ``(T, N)``.
            learned, dones, keys, update: As in :meth:`transform` (``normalize_return`` needs ``dones``
                while ``update``).
            explored: ``x``, the steps' exploration counts ``(T, N)`` (cells); required when
                :attr:`needs_explored`.

        Returns:
            Shape ``(T, N)`` float32.
        """
        env = np.asarray(env_rewards, np.float32)
        out = np.float32(self.cfg.env_weight) * env
        if self.cfg.learned_weight:
            out = out + np.float32(self.cfg.learned_weight) * self.transform(learned, dones, keys, update)
        x = 0.0
        if self.needs_explored:
            if explored is None:
                raise ValueError("reward.mix.explore_weight needs the steps' exploration counts")
            counts = np.asarray(explored, np.float32)
            out = out + np.float32(self.cfg.explore_weight) * counts
            x = float(counts.sum())
        out = out.astype(np.float32)
        if update:
            self._sums += (float(env.sum()), float(np.sum(learned)), float(out.sum()), x)
            self._n += int(env.size)
        if self.return_scale is not None:
            out = self._over_return_std(out, dones, update)
        return out

    def _over_return_std(self, rewards: np.ndarray, dones: np.ndarray | None, update: bool) -> np.ndarray:
        """``(T, N)`` rewards over the running std of the discounted return, clipped; in step order while ``update``."""
        assert self.return_scale is not None
        clip = np.float32(self.cfg.return_clip)
        if not update:
            return np.clip(self.return_scale(rewards), -clip, clip)
        if dones is None:
            raise ValueError("reward.mix.normalize_return needs the episode ends")
        scales = np.empty((len(rewards), 1), np.float32)
        ended = np.asarray(dones, bool)
        for t, row in enumerate(rewards):
            # VecNormalize's order: fold the return including this step in, scale, then restart ended episodes.
            self._returns = self._returns * self.gamma + row
            self.return_scale.update(self._returns)
            scales[t] = self.return_scale.scale
            self._returns[ended[t]] = 0.0
        return np.clip(rewards / scales, -clip, clip).astype(np.float32)

    def forget_episodes(self) -> None:
        """Drop every env's episode counts and discounted returns (the envs were reset)."""
        for c in self._counts:
            c.clear()
        self._returns[:] = 0.0

    def pop_stats(self) -> dict[str, float]:
        """Mean per agent step since the last call: ``reward/env``, ``reward/learned``, ``reward/mixed``
        (and ``reward/explored``, cells, when the exploration term is on; ``reward/return_std``, the
        divisor now, when ``normalize_return`` is on)."""
        if self._n == 0:
            return {}
        env, learned, mixed, explored = self._sums / self._n
        self._sums[:] = 0.0
        self._n = 0
        out = {"reward/env": float(env), "reward/learned": float(learned), "reward/mixed": float(mixed)}
        if self.needs_explored:
            out["reward/explored"] = float(explored)
        if self.return_scale is not None:
            out["reward/return_std"] = self.return_scale.scale
        return out

    def state(self) -> dict[str, Any]:
        """JSON-able statistics (saved in ``state.json`` for resume; per-episode counts and returns are not kept)."""
        return {
            "mean": self.mean,
            "std": self.std,
            "cut": self.cut,
            "scale": self.scale.state() if self.scale is not None else None,
            "return_scale": self.return_scale.state() if self.return_scale is not None else None,
            "gamma": self.gamma,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` wrote."""
        self.mean, self.std = float(state.get("mean", 0.0)), float(state.get("std", 1.0))
        cut = state.get("cut")
        self.cut = None if cut is None else float(cut)
        if self.scale is not None and state.get("scale"):
            self.scale.load_state(state["scale"])
        if self.return_scale is not None and state.get("return_scale"):
            self.return_scale.load_state(state["return_scale"])
        self.gamma = float(state.get("gamma", self.gamma))
