"""Observations of any supported space as flat float32 rows, and back to what a policy takes.

Stages after the env (segments, the label store, reward models) see every
observation as one flat float32 row of ``O`` values; the agent keeps seeing the
env's own observations (a ``Dict`` goes to SB3's ``MultiInputPolicy`` as a
dict). Flattening: a ``Box`` is raveled (images included, ``(H, W, C)`` →
``H·W·C`` values), a ``Discrete`` is its index as one float, ``MultiDiscrete``
and ``MultiBinary`` are raveled, and a ``Dict`` concatenates its members in the
space's key order. The same rule is used for single observations
(:func:`flatten_one`) and for batches from a VecEnv or a replay buffer
(:func:`flatten_batch`), so a reward model scores training steps exactly as it
scored the labelled ones. Rows round-trip to structured observations with
:func:`unflatten_batch` (a reward model's own feature extractor may need the
grid or the dict back). Decision 0015 says why flat float32 rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

_LEAVES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


def _members(space: spaces.Space[Any]) -> list[tuple[str | None, spaces.Space[Any]]]:
    """``(key, leaf space)`` in flattening order; ``key`` is None for a non-Dict space."""
    if isinstance(space, spaces.Dict):
        out: list[tuple[str | None, spaces.Space[Any]]] = []
        for key, sub in space.spaces.items():
            if not isinstance(sub, _LEAVES):
                raise TypeError(
                    f"observation space member {key!r} is {sub}: judgerl flattens Box, Discrete, "
                    "MultiDiscrete and MultiBinary members of a Dict (no nesting)"
                )
            out.append((key, sub))
        return out
    if isinstance(space, _LEAVES):
        return [(None, space)]
    raise TypeError(
        f"unsupported observation space {space!r}: judgerl supports Box, Discrete, MultiDiscrete, MultiBinary "
        "and a Dict of them"
    )


def _leaf_size(space: spaces.Space[Any]) -> int:
    if isinstance(space, spaces.Discrete):
        return 1
    return int(np.prod(space.shape)) if space.shape else 1


def flat_dim(space: spaces.Space[Any]) -> int:
    """Values per flattened observation row ``O``.

    Raises:
        TypeError: For an unsupported space.
    """
    return sum(_leaf_size(sub) for _, sub in _members(space))


def is_dict(space: spaces.Space[Any]) -> bool:
    """Whether observations of ``space`` are dicts."""
    return isinstance(space, spaces.Dict)


def flatten_one(space: spaces.Space[Any], obs: Any) -> np.ndarray:
    """One observation as a row, shape ``(O,)`` float32."""
    return flatten_batch(space, _batch_of_one(space, obs), 1)[0]


def _batch_of_one(space: spaces.Space[Any], obs: Any) -> Any:
    if is_dict(space):
        return {k: np.asarray(v)[None] for k, v in dict(obs).items()}
    return np.asarray(obs)[None]


def flatten_batch(space: spaces.Space[Any], obs: Any, n: int) -> np.ndarray:
    """``n`` observations (an array with leading size ``n``, or a dict of such arrays) as rows ``(n, O)`` float32.

    Extra leading axes (e.g. ``(steps, envs, ...)`` from a replay buffer) are
    folded into ``n`` when the total size matches.

    Raises:
        ValueError: When a member's size does not match the space.
    """
    parts = []
    for key, sub in _members(space):
        value = obs[key] if key is not None else obs
        arr = np.asarray(value, dtype=np.float32).reshape(n, -1)
        if arr.shape[1] != _leaf_size(sub):
            name = f"member {key!r}" if key is not None else "observation"
            raise ValueError(f"{name} has {arr.shape[1]} values per row, the space {sub} has {_leaf_size(sub)}")
        parts.append(arr)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def unflatten_batch(space: spaces.Space[Any], rows: np.ndarray) -> Any:
    """Rows ``(n, O)`` back to ``n`` observations in the space's layout (an array or a dict of arrays).

    Discrete members come back as int64 indices; other members keep the space's dtype.
    """
    rows = np.asarray(rows)
    n = len(rows)
    out: dict[str, np.ndarray] = {}
    single: np.ndarray | None = None
    pos = 0
    for key, sub in _members(space):
        size = _leaf_size(sub)
        chunk = rows[:, pos : pos + size]
        pos += size
        if isinstance(sub, spaces.Discrete):
            value = np.rint(chunk[:, 0]).astype(np.int64)
        else:
            value = chunk.reshape(n, *(sub.shape or ())).astype(sub.dtype)
        if key is None:
            single = value
        else:
            out[key] = value
    return single if single is not None else out


def stack_obs(space: spaces.Space[Any], items: Sequence[Any]) -> Any:
    """Single observations stacked into one batch a policy's ``predict`` takes (array or dict of arrays)."""
    if isinstance(space, spaces.Dict):
        keys = list(space.spaces)
        return {k: np.stack([np.asarray(dict(o)[k]) for o in items]) for k in keys}
    return np.stack([np.asarray(o) for o in items])


def index_obs(obs: Any, i: int) -> Any:
    """Row ``i`` of a batch (an array or a dict of arrays)."""
    if isinstance(obs, Mapping):
        return {k: np.asarray(v)[i] for k, v in obs.items()}
    return np.asarray(obs)[i]
