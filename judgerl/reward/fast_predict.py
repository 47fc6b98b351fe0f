"""A numpy inference path for small reward ensembles, used on the per-step hot path.

Calling K small torch modules for 8 rows costs ~200 µs in framework overhead,
more than the env step it rewards. Here the K members are fused into one MLP
whose first layer is one 2-D matmul for all members (each member's input
standardisation folded into it), whose later layers are batched ``(K, N, H)``
matmuls, and whose ensemble mean is folded into the last layer, so a call is a
handful of numpy operations. A discrete action's one-hot block of the first
layer becomes a row lookup. The fused weights are rebuilt lazily whenever any
parameter or buffer changed (torch bumps a tensor's ``_version`` on every
in-place update: optimiser steps, ``load_state_dict``, ``copy_``), so the fast
path can never serve stale weights.
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
        self._w_obs = self._w_act = self._b0 = np.zeros((0,), np.float32)
        self._rest: list[tuple[np.ndarray, np.ndarray]] = []
        self._k = self._h1 = 0
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
        k = len(self.members)
        obs_dim, act_dim = self.featurizer.obs_dim, self.featurizer.act_cols
        with torch.no_grad():
            per_member = [
                [(w.detach().numpy().T.astype(np.float64), b.detach().numpy()) for w, b in m._params]
                for m in self.members
            ]
            mean = [m.feat_mean.numpy().astype(np.float64) for m in self.members]
            inv = [m.feat_inv_std.numpy().astype(np.float64) for m in self.members]
        # Standardisation folded into the first layer: ((x - mu) * s) @ W + b = x @ (s[:, None] W) + (b - (mu s) @ W)
        firsts = [
            (inv[i][:, None] * layers[0][0], layers[0][1] - (mean[i] * inv[i]) @ layers[0][0])
            for i, layers in enumerate(per_member)
        ]
        w0 = np.concatenate([f[0] for f in firsts], axis=1)  # (F, K * H1): all members in one matmul
        b0 = np.concatenate([f[1] for f in firsts])
        self._k = k
        self._h1 = firsts[0][0].shape[1]
        n_layers = len(per_member[0])
        if n_layers == 1:
            # A linear member: the ensemble mean is one more linear map, folded into the only layer.
            w0, b0 = w0.mean(axis=1, keepdims=True), np.array([b0.mean()])
        # Live rows have absorbing flag 0, so the flag's row of the first layer drops out.
        self._w_obs = w0[:obs_dim].astype(np.float32)
        # Ignored observation columns are zero in the featurizer's rows; here the raw observation is multiplied
        # directly, so their weights are zeroed instead (the same product).
        self._w_obs[list(self.featurizer.ignore_obs)] = 0.0
        self._w_act = w0[obs_dim : obs_dim + act_dim].astype(np.float32)
        self._b0 = b0.astype(np.float32)
        # Later layers as (K, in, out) stacks: a batched matmul of K small products, 5 us for K=3, 64 wide; a
        # block-diagonal (K*in, K*out) product does K times the arithmetic on zeros (12 us, 2 busy cores).
        # The last layer's weights and bias are divided by K so the ensemble mean is a sum over members.
        self._rest = []
        for j in range(1, n_layers):
            scale = 1.0 / k if j == n_layers - 1 else 1.0
            ws = np.stack([layers[j][0] for layers in per_member]) * scale
            bs = np.stack([layers[j][1] for layers in per_member])[:, None, :] * scale
            self._rest.append((ws.astype(np.float32), bs.astype(np.float32)))
        self._version = version

    def predict_live(self, obs: np.ndarray, acts: np.ndarray) -> np.ndarray:
        """Ensemble-mean reward ``(N,)`` float32 for live transitions ``obs (N, O)``, ``acts (N, A)``."""
        self._sync()
        n = len(obs)
        h = np.asarray(obs, np.float32).reshape(n, -1) @ self._w_obs
        a = np.asarray(acts, np.float32).reshape(n, -1)
        if self.featurizer.use_action:  # a state-only reward has no action block in its first layer
            if self._discrete:
                idx = np.rint(a[:, 0]).astype(np.int64) - self._start
                if n and (idx.min() < 0 or idx.max() >= self.featurizer.act_dim):
                    raise ValueError(f"discrete action index out of range: {idx.min() + self._start}..{idx.max()}")
                h += self._w_act[idx]  # one-hot @ W is a row lookup
            else:
                h += np.clip(a, self._low, self._high) @ self._w_act
        h += self._b0
        if not self._rest:
            return h[:, 0]
        hk = h.reshape(n, self._k, self._h1).transpose(1, 0, 2)  # (K, N, H1)
        for w, b in self._rest:
            hk = np.maximum(hk, 0.0) if self._relu else np.tanh(hk)
            hk = hk @ w + b
        return hk.sum(axis=0)[:, 0]
