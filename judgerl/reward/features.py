"""Turn (observation, action, absorbing flag) rows into one flat float feature vector.

The featurizer is the only place that knows about gymnasium action spaces: discrete
actions become one-hot vectors, continuous actions are clipped to their bounds, and
one extra column carries the absorbing flag. A state-only featurizer
(``use_action=False``, judgerl's default through ``reward.use_action``) leaves the
action columns out: judges see frames or captions of states, never the actions,
so an action input can only fit spurious correlations (decision 0012). Rows marked absorbing (padding after
an episode ended) have their observation and action features zeroed, so every
absorbing step maps to the same canonical point whatever the padding held.

``stack_segments`` pads a list of segments into ``(S, T, F)`` tensors for
vectorised segment returns; it is shared by the preference trainer and by any
other reward model that sums per-step rewards over segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from judgerl.types import Segment

SUPPORTED_ACTION_SPACES = ("Discrete", "Box", "MultiDiscrete", "MultiBinary")


class Featurizer:
    """Maps batches of transitions to feature rows ``[obs, action features, done]``.

    Args:
        obs_dim: Flattened observation size ``O``.
        action_space: The env's action space: ``Discrete`` (one-hot, ``n``
            columns), ``Box`` (clipped to its bounds, ``prod(shape)`` columns),
            ``MultiDiscrete`` (concatenated one-hots) or ``MultiBinary``
            (passed through).
        use_action: Whether the action columns are part of the features. With
            ``False`` the rows are ``[obs, done]`` (a state-only reward): actions
            are still accepted, and their shape checked, but never read.
        ignore_obs: Indices into the flat observation (``0 <= i < O``) whose
            columns are always zero in the features, so the reward cannot depend
            on them (``reward.ignore_obs``). The width ``F`` is unchanged, which
            keeps the standardisation, the flatness box and the fast path's
            column layout as they are.

    Raises:
        TypeError: For any other action space.
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.Space[Any],
        use_action: bool = True,
        ignore_obs: Sequence[int] = (),
    ) -> None:
        if obs_dim < 1:
            raise ValueError(f"obs_dim must be at least 1, got {obs_dim}")
        self.obs_dim = int(obs_dim)
        self.action_space = action_space
        self.use_action = bool(use_action)
        self.ignore_obs = tuple(sorted({int(i) for i in ignore_obs}))
        if any(i < 0 or i >= self.obs_dim for i in self.ignore_obs):
            raise ValueError(f"ignore_obs indices must lie in [0, {self.obs_dim}), got {list(self.ignore_obs)}")
        # (O,) multiplier: 0 on ignored columns; None when every column is read (no extra multiply per step).
        self._obs_keep: torch.Tensor | None = None
        if self.ignore_obs:
            keep = torch.ones(self.obs_dim)
            keep[list(self.ignore_obs)] = 0.0
            self._obs_keep = keep
        # Constant tensors are built once here so the per-step call allocates little.
        self._eye: torch.Tensor | None = None
        self._low: torch.Tensor | None = None
        self._high: torch.Tensor | None = None
        self._offsets: torch.Tensor | None = None
        if isinstance(action_space, gym.spaces.Discrete):
            self.act_in = 1
            self.act_dim = int(action_space.n)
            self._start = int(action_space.start)
            self._eye = torch.eye(self.act_dim, dtype=torch.float32)
        elif isinstance(action_space, gym.spaces.Box):
            self.act_in = self.act_dim = int(np.prod(action_space.shape))
            self._low = torch.as_tensor(np.asarray(action_space.low, np.float32).reshape(-1))
            self._high = torch.as_tensor(np.asarray(action_space.high, np.float32).reshape(-1))
        elif isinstance(action_space, gym.spaces.MultiDiscrete):
            nvec = np.asarray(action_space.nvec).reshape(-1)
            self.act_in = len(nvec)
            self.act_dim = int(nvec.sum())
            self._nvec = torch.as_tensor(nvec, dtype=torch.long)
            self._offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(nvec)[:-1]]), dtype=torch.long)
            self._eye = torch.eye(self.act_dim, dtype=torch.float32)
        elif isinstance(action_space, gym.spaces.MultiBinary):
            self.act_in = self.act_dim = int(np.prod(action_space.shape))
        else:
            raise TypeError(
                f"Featurizer supports {', '.join(SUPPORTED_ACTION_SPACES)} action spaces, "
                f"got {type(action_space).__name__}"
            )

    @property
    def act_cols(self) -> int:
        """Action columns in a feature row: ``act_dim``, or 0 for a state-only featurizer."""
        return self.act_dim if self.use_action else 0

    @property
    def n_features(self) -> int:
        """Feature width ``F = O + action columns + 1``."""
        return self.obs_dim + self.act_cols + 1

    def __call__(self, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None = None) -> torch.Tensor:
        """Featurize a batch of transitions.

        Args:
            obs: Observations, shape ``(N, O)`` (or ``(N, ...)`` with ``O`` elements per row).
            acts: Actions, shape ``(N, A)``; discrete actions as float indices, ``(N, 1)`` or ``(N,)``.
            dones: Absorbing flags, shape ``(N,)``, ``1.0`` for padded post-episode
                steps; ``None`` means all zeros.

        Returns:
            Features, shape ``(N, F)`` float32 tensor (CPU, no grad).

        Raises:
            ValueError: When shapes do not match the spaces or a discrete index is out of range.
        """
        o = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        n = o.shape[0] if o.ndim > 0 else 0
        o = o.reshape(n, -1)
        if o.shape[1] != self.obs_dim:
            raise ValueError(f"expected observations with {self.obs_dim} values per row, got shape {tuple(obs.shape)}")
        if self._obs_keep is not None:
            o = o * self._obs_keep
        a = torch.as_tensor(np.asarray(acts, dtype=np.float32)).reshape(n, -1)
        if a.shape[1] != self.act_in:
            raise ValueError(
                f"expected actions with {self.act_in} value(s) per row for {type(self.action_space).__name__}, "
                f"got shape {tuple(np.shape(acts))}"
            )
        if dones is None:
            return torch.cat([o, self._action_features(a, None), torch.zeros(n, 1)], dim=1)
        d = torch.as_tensor(np.asarray(dones, dtype=np.float32)).reshape(n, 1)
        absorbing = d > 0
        # Absorbing rows: observation and action features are zeroed (whatever the
        # padding held), so every absorbing step is one canonical state.
        af = self._action_features(a, absorbing[:, 0])
        return torch.cat([o.masked_fill(absorbing, 0.0), af.masked_fill(absorbing, 0.0), d], dim=1)

    def _action_features(self, a: torch.Tensor, absorbing: torch.Tensor | None) -> torch.Tensor:
        """Action columns ``(N, act_cols)`` for a ``(N, act_in)`` float tensor.

        Args:
            a: Raw actions.
            absorbing: ``(N,)`` bool, rows whose action is padding (never validated), or ``None``.
        """
        if not self.use_action:
            return a.new_zeros((a.shape[0], 0))
        if isinstance(self.action_space, gym.spaces.Discrete):
            assert self._eye is not None
            idx = torch.round(a[:, 0]).long() - self._start
            if absorbing is not None:
                idx = idx.masked_fill(absorbing, 0)
            if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.act_dim):
                raise ValueError(
                    f"discrete action index out of range [{self._start}, {self._start + self.act_dim}): "
                    f"got min {int(idx.min()) + self._start}, max {int(idx.max()) + self._start}"
                )
            return self._eye[idx]
        if isinstance(self.action_space, gym.spaces.Box):
            assert self._low is not None and self._high is not None
            return torch.clamp(a, self._low, self._high)
        if isinstance(self.action_space, gym.spaces.MultiDiscrete):
            assert self._eye is not None and self._offsets is not None
            idx = torch.round(a).long()
            if absorbing is not None:
                idx = idx.masked_fill(absorbing[:, None], 0)
            if idx.numel() and (bool((idx < 0).any()) or bool((idx >= self._nvec).any())):
                raise ValueError(f"multi-discrete action index out of range, nvec={self._nvec.tolist()}")
            return self._eye[idx + self._offsets].sum(dim=1)
        return a

    def spec(self) -> dict[str, Any]:
        """Plain description (ints, floats, lists, strings) for saving; inverse of ``from_spec``."""
        sp = self.action_space
        act: dict[str, Any]
        if isinstance(sp, gym.spaces.Discrete):
            act = {"type": "Discrete", "n": int(sp.n), "start": int(sp.start)}
        elif isinstance(sp, gym.spaces.Box):
            act = {
                "type": "Box",
                "shape": [int(s) for s in sp.shape],
                "low": np.asarray(sp.low, np.float64).reshape(-1).tolist(),
                "high": np.asarray(sp.high, np.float64).reshape(-1).tolist(),
            }
        elif isinstance(sp, gym.spaces.MultiDiscrete):
            act = {"type": "MultiDiscrete", "nvec": np.asarray(sp.nvec).reshape(-1).tolist()}
        else:
            act = {"type": "MultiBinary", "n": int(self.act_dim)}
        return {
            "obs_dim": self.obs_dim,
            "action_space": act,
            "use_action": self.use_action,
            "ignore_obs": list(self.ignore_obs),
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Featurizer:
        """Rebuild a featurizer from ``spec()`` output.

        Raises:
            ValueError: When the spec names an unknown action space type.
        """
        act = spec["action_space"]
        kind = act["type"]
        space: gym.Space[Any]
        if kind == "Discrete":
            space = gym.spaces.Discrete(int(act["n"]), start=int(act["start"]))
        elif kind == "Box":
            shape = tuple(int(s) for s in act["shape"])
            low = np.asarray(act["low"], np.float32).reshape(shape)
            high = np.asarray(act["high"], np.float32).reshape(shape)
            space = gym.spaces.Box(low=low, high=high, dtype=np.float32)
        elif kind == "MultiDiscrete":
            space = gym.spaces.MultiDiscrete(np.asarray(act["nvec"], np.int64))
        elif kind == "MultiBinary":
            space = gym.spaces.MultiBinary(int(act["n"]))
        else:
            raise ValueError(f"unknown action space type {kind!r} in featurizer spec")
        # Specs written before state-only rewards (or ignored columns) existed used the action (and every column).
        return cls(
            int(spec["obs_dim"]),
            space,
            use_action=bool(spec.get("use_action", True)),
            ignore_obs=[int(i) for i in spec.get("ignore_obs", [])],
        )


@dataclass(frozen=True)
class SegmentBatch:
    """Segments featurized and padded into batch tensors.

    Attributes:
        features: Shape ``(S, T_max, F)`` float32; padding rows are zeros.
        valid: Shape ``(S, T_max)``, ``1.0`` on real steps, ``0.0`` on padding
            (segments may differ in length).
        absorbing: Shape ``(S, T_max)``, the absorbing flag of each step.
    """

    features: torch.Tensor
    valid: torch.Tensor
    absorbing: torch.Tensor

    def step_weights(self, zero_absorbing: bool) -> torch.Tensor:
        """Weights ``(S, T_max)`` that turn per-step rewards into segment returns by a weighted sum.

        Args:
            zero_absorbing: Give absorbing steps weight 0 (their reward is pinned to 0).
        """
        return self.valid * (1.0 - self.absorbing) if zero_absorbing else self.valid


def stack_segments(featurizer: Featurizer, segments: Sequence[Segment]) -> SegmentBatch:
    """Featurize segments into one padded batch (one featurizer call for all steps).

    Args:
        featurizer: Maps each segment's rows to features.
        segments: ``S`` segments, segment ``i`` with ``T_i`` steps.

    Returns:
        The padded batch; shorter segments are padded at the end.

    Raises:
        ValueError: For an empty list.
    """
    if not segments:
        raise ValueError("stack_segments needs at least one segment")
    lengths = [s.length for s in segments]
    t_max = max(lengths)
    obs = np.concatenate([np.asarray(s.obs, np.float32).reshape(s.length, -1) for s in segments])
    acts = np.concatenate([np.asarray(s.acts, np.float32).reshape(s.length, -1) for s in segments])
    dones = np.concatenate([np.asarray(s.dones, np.float32).reshape(-1) for s in segments])
    flat = featurizer(obs, acts, dones)
    d = torch.as_tensor(dones)
    n_seg = len(segments)
    if all(t == t_max for t in lengths):
        return SegmentBatch(flat.reshape(n_seg, t_max, -1), torch.ones(n_seg, t_max), d.reshape(n_seg, t_max))
    feats = torch.zeros(n_seg, t_max, flat.shape[1])
    valid = torch.zeros(n_seg, t_max)
    absorbing = torch.zeros(n_seg, t_max)
    pos = 0
    for i, t in enumerate(lengths):
        feats[i, :t] = flat[pos : pos + t]
        valid[i, :t] = 1.0
        absorbing[i, :t] = d[pos : pos + t]
        pos += t
    return SegmentBatch(feats, valid, absorbing)
