"""A numpy inference path for small reward ensembles, used on the per-step hot path.

Calling K small torch modules for 8 rows costs ~200 µs in framework overhead,
more than the env step it rewards. The same arithmetic in numpy on stacked
weights costs a few tens of µs. The weights are copied out of torch lazily and
re-copied whenever any parameter or buffer changed (torch bumps a tensor's
``_version`` on every in-place update: optimiser steps, ``load_state_dict``,
``copy_``), so the fast path can never serve stale weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch

from judgerl.reward.features import Featurizer
from judgerl.reward.mlp import RewardNet


class NumpyEnsemble:
    """Mean reward of ``RewardNet`` members computed in numpy (float32).

    Supports Box and Discrete action spaces and ReLU/Tanh members; ``supported``
    says whether a given ensemble can use it.

    Args:
        featurizer: The ensemble's featurizer (its spaces define the features).
        members: The torch members; read, never modified.
    """

    def __init__(self, featurizer: Featurizer, members: Sequence[RewardNet]) -> None:
        self.featurizer = featurizer
        self.members = list(members)
        self._version: int | None = None
        # Members are updated in place (optimiser, load_state_dict), never swapped, so the tensor list is fixed.
        self._tensors = [t for m in self.members for t in (*m.parameters(), *m.buffers())]
        self._relu = self.members[0].activation == "relu"
        self._mean = self._inv = np.zeros((0,), np.float32)
        self._w: list[np.ndarray] = []
        self._b: list[np.ndarray] = []
        space = featurizer.action_space
        self._discrete = isinstance(space, gym.spaces.Discrete)
        self._start = int(space.start) if isinstance(space, gym.spaces.Discrete) else 0
        if isinstance(space, gym.spaces.Box):
            self._low = np.asarray(space.low, np.float32).reshape(-1)
            self._high = np.asarray(space.high, np.float32).reshape(-1)

    @staticmethod
    def supported(featurizer: Featurizer, members: Sequence[RewardNet]) -> bool:
        """Whether the numpy path covers this action space and activation."""
        ok_space = isinstance(featurizer.action_space, gym.spaces.Box | gym.spaces.Discrete)
        acts = {m.activation for m in members}
        shapes = {tuple(w.shape for w, _ in m._params) for m in members}
        return ok_space and len(acts) == 1 and acts <= {"relu", "tanh"} and len(shapes) == 1

    def _current_version(self) -> int:
        return sum(t._version for t in self._tensors)

    def _sync(self) -> None:
        version = self._current_version()
        if version == self._version:
            return
        with torch.no_grad():
            # Stack members: (K, 1, F) standardisation and (K, in, out) weights for batched matmuls.
            self._mean = np.stack([m.feat_mean.numpy() for m in self.members])[:, None, :].copy()
            self._inv = np.stack([m.feat_inv_std.numpy() for m in self.members])[:, None, :].copy()
            n_layers = len(self.members[0]._params)
            self._w = [
                np.stack([m._params[i][0].detach().numpy().T for m in self.members]).copy() for i in range(n_layers)
            ]
            self._b = [
                np.stack([m._params[i][1].detach().numpy() for m in self.members])[:, None, :].copy()
                for i in range(n_layers)
            ]
        self._version = version

    def features(self, obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        """Features ``(N, F)`` of live (non-absorbing) transitions, as the torch featurizer builds them."""
        n = len(obs)
        o = np.asarray(obs, np.float32).reshape(n, -1)
        a = np.asarray(acts, np.float32).reshape(n, -1)
        if self._discrete:
            idx = np.rint(a[:, 0]).astype(np.int64) - self._start
            if n and (idx.min() < 0 or idx.max() >= self.featurizer.act_dim):
                raise ValueError(f"discrete action index out of range: {idx.min() + self._start}..{idx.max()}")
            af = np.zeros((n, self.featurizer.act_dim), np.float32)
            af[np.arange(n), idx] = 1.0
        else:
            af = np.clip(a, self._low, self._high)
        return np.concatenate([o, af, np.zeros((n, 1), np.float32)], axis=1)

    def predict_live(self, obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        """Ensemble-mean reward ``(N,)`` float32 for live transitions ``obs (N, O)``, ``acts (N, A)``."""
        self._sync()
        h = (self.features(obs, acts)[None] - self._mean) * self._inv  # (K, N, F)
        last = len(self._w) - 1
        for i, (w, b) in enumerate(zip(self._w, self._b, strict=True)):
            h = np.matmul(h, w) + b
            if i < last:
                h = np.maximum(h, 0.0) if self._relu else np.tanh(h)
        return h[:, :, 0].mean(axis=0).astype(np.float32, copy=False)
