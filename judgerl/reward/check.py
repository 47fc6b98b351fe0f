"""Contract checkers for reward models, in the spirit of gymnasium's ``check_env``.

``check_reward_model`` feeds random transitions from the env's spaces and checks
what the RL wrapper relies on: shape ``(N,)``, a float dtype, finite values,
determinism, ``dones=None`` meaning all zeros, absorbing rows accepted,
inputs left untouched, and rows scored independently of the batch they come in.
``check_reward_stream`` checks a history-dependent model's streams: the same
shape rules, determinism, envs independent of each other, and a restarted env
independent of its earlier episodes. ``check_fittable`` checks that a model
fits its targets, reports ``reward/...`` metrics and survives save and load.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from judgerl.envs.spaces import flatten_one
from judgerl.reward.base import RewardModel, SequenceRewardModel

_ATOL = 1e-5


class RewardModelContractError(AssertionError):
    """A reward model broke the ``RewardModel`` contract; the message says which part and how."""


def sample_transitions(
    obs_space: gym.Space[Any], action_space: gym.Space[Any], n: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random transitions in the layout reward models receive.

    Args:
        obs_space: Observation space (flattened as ``judgerl.envs.spaces`` does).
        action_space: Action space; discrete actions become float indices of shape ``(n, 1)``.
        n: Number of rows ``N``.
        seed: Seeds the spaces' samplers and the absorbing flags.

    Returns:
        ``obs (N, O)`` float32, ``acts (N, A)`` float32, ``dones (N,)`` float32 with random 0/1 flags.
    """
    obs_space.seed(seed)
    action_space.seed(seed + 1)
    obs = np.stack([flatten_one(obs_space, obs_space.sample()) for _ in range(n)])
    acts = np.stack([np.asarray(action_space.sample(), np.float32).reshape(-1) for _ in range(n)])
    dones = (np.random.default_rng(seed).random(n) < 0.5).astype(np.float32)
    return obs, acts, dones


def _call(model: RewardModel, what: str, obs: np.ndarray, acts: np.ndarray, dones: np.ndarray | None) -> np.ndarray:
    """Call ``predict`` and check type, dtype, shape and finiteness of the answer."""
    n = len(obs)
    before = [None if x is None else x.copy() for x in (obs, acts, dones)]
    try:
        out = model.predict(obs, acts, dones)
    except Exception as e:
        raise RewardModelContractError(f"predict raised {type(e).__name__} for {what}: {e}") from e
    for x, y in zip((obs, acts, dones), before, strict=True):
        if x is not None and y is not None and not np.array_equal(x, y, equal_nan=True):
            raise RewardModelContractError(f"predict modified its input arrays in place ({what})")
    if not isinstance(out, np.ndarray):
        raise RewardModelContractError(f"predict must return a numpy ndarray for {what}, got {type(out).__name__}")
    if out.dtype not in (np.float32, np.float64):
        raise RewardModelContractError(f"predict must return float32 or float64 for {what}, got {out.dtype}")
    if out.shape != (n,):
        raise RewardModelContractError(f"predict must return shape ({n},) for {what}, got {out.shape}")
    if not np.all(np.isfinite(out)):
        raise RewardModelContractError(f"predict returned non-finite rewards for {what}: {out}")
    return out


def check_reward_model(
    model: RewardModel, obs_space: gym.Space[Any], action_space: gym.Space[Any], n: int = 16, seed: int = 0
) -> None:
    """Raise ``RewardModelContractError`` unless ``model`` keeps the ``RewardModel`` contract.

    Args:
        model: The reward model to check.
        obs_space: The env's observation space.
        action_space: The env's action space.
        n: Rows per random batch (at least 2).
        seed: Seeds the random transitions.

    Raises:
        RewardModelContractError: Naming the first broken rule.
    """
    if n < 2:
        raise ValueError(f"check_reward_model needs n >= 2, got {n}")
    if not callable(getattr(model, "predict", None)):
        raise RewardModelContractError(f"{type(model).__name__} has no predict(obs, acts, dones=None) method")
    obs, acts, dones = sample_transitions(obs_space, action_space, n, seed)

    base = _call(model, "dones=None", obs, acts, None)
    again = _call(model, "dones=None (second call)", obs, acts, None)
    if not np.array_equal(base, again):
        raise RewardModelContractError(
            f"predict is not deterministic: two calls on equal input differ by {np.max(np.abs(base - again)):.3g}"
        )
    zeros = _call(model, "dones=zeros", obs, acts, np.zeros(n, np.float32))
    if not np.allclose(base, zeros, rtol=_ATOL, atol=_ATOL):
        raise RewardModelContractError("dones=None must mean all zeros, but predict(dones=None) != predict(dones=0)")
    _call(model, "dones=ones", obs, acts, np.ones(n, np.float32))

    mixed = _call(model, "mixed dones", obs, acts, dones)
    rows = np.concatenate(
        [_call(model, "a single row", obs[i : i + 1], acts[i : i + 1], dones[i : i + 1]) for i in range(n)]
    )
    if not np.allclose(mixed, rows, rtol=_ATOL, atol=_ATOL):
        raise RewardModelContractError(
            "predict depends on the batch: rows scored one by one differ from the batch by up to "
            f"{np.max(np.abs(mixed - rows)):.3g} (rewards must be per-transition)"
        )


def _stream_run(model: SequenceRewardModel, obs: np.ndarray, dones: np.ndarray) -> np.ndarray:
    """Rewards ``(T, N)`` of a fresh stream fed observations ``(T + 1, N, O)`` with episode ends ``(T, N)``."""
    t, n = dones.shape
    stream = model.stream(n)
    stream.start(obs[0], np.ones(n, bool))
    out = np.empty((t, n), np.float32)
    for k in range(t):
        r = stream.step(obs[k + 1], dones[k])
        if not isinstance(r, np.ndarray) or r.shape != (n,) or r.dtype not in (np.float32, np.float64):
            raise RewardModelContractError(f"stream.step must return a float ndarray of shape ({n},), got {r!r}")
        if not np.all(np.isfinite(r)):
            raise RewardModelContractError(f"stream.step returned non-finite rewards: {r}")
        out[k] = r
        if dones[k].any():
            stream.start(obs[k + 1], dones[k])  # the next episode starts from the same row, for simplicity
    return out


def check_reward_stream(model: SequenceRewardModel, obs_space: gym.Space[Any], n: int = 3, steps: int = 8) -> None:
    """Raise ``RewardModelContractError`` unless ``model``'s streams keep the ``RewardStream`` contract.

    Args:
        model: A history-dependent reward model (``stream(n_envs)``).
        obs_space: The env's observation space.
        n: Envs per stream (at least 2).
        steps: Steps fed.
    """
    if not callable(getattr(model, "stream", None)):
        raise RewardModelContractError(f"{type(model).__name__} has no stream(n_envs) method")
    obs_space.seed(0)
    obs = np.stack([[flatten_one(obs_space, obs_space.sample()) for _ in range(n)] for _ in range(steps + 1)])
    dones = np.zeros((steps, n), bool)
    dones[steps // 2, 0] = True
    first = _stream_run(model, obs, dones)
    if not np.array_equal(first, _stream_run(model, obs, dones)):
        raise RewardModelContractError("streams are not deterministic: two fresh streams fed the same steps differ")
    for i in range(n):
        alone = _stream_run(model, obs[:, i : i + 1], dones[:, i : i + 1])[:, 0]
        if not np.allclose(alone, first[:, i], rtol=_ATOL, atol=_ATOL):
            raise RewardModelContractError(f"env {i}'s rewards depend on the other envs of the stream")
    k = steps // 2 + 1  # env 0 ended on step k - 1 and restarted from obs[k]
    restarted = _stream_run(model, obs[k:, :1], np.zeros((steps - k, 1), bool))[:, 0]
    if not np.allclose(restarted, first[k:, 0], rtol=_ATOL, atol=_ATOL):
        raise RewardModelContractError("a restarted env's rewards depend on its earlier episode")


def check_fittable(model: Any, targets: Any, path: Any, rows: np.ndarray, acts: np.ndarray) -> dict[str, float]:
    """Fit ``model`` on ``targets``, check its metrics, save it to ``path`` and check the loaded copy agrees.

    Args:
        model: A ``Fittable`` reward model, Markov or history-dependent.
        targets: Targets of the kind it declares in ``fits``.
        path: Where to save (a ``pathlib.Path``).
        rows: Flat observations ``(N, O)`` to compare the original and the loaded model on.
        acts: Actions ``(N, A)`` for a Markov model.

    Returns:
        The fit's metrics.
    """
    from judgerl.forms.base import target_kind

    if target_kind(targets) != model.fits:
        raise RewardModelContractError(
            f"check_fittable got {target_kind(targets)} targets for a model that fits {model.fits}"
        )
    metrics = model.fit(targets, np.random.default_rng(0))
    if not isinstance(metrics, dict) or not metrics:
        raise RewardModelContractError("fit must return a non-empty dict of metrics")
    bad = [k for k, v in metrics.items() if not k.startswith("reward/") or not isinstance(v, float)]
    if bad:
        raise RewardModelContractError(f"fit metrics must be 'reward/...' floats, got {bad}")
    model.save(path)
    loaded = type(model).load(path)
    if callable(getattr(model, "predict", None)):
        a, b = model.predict(rows, acts), loaded.predict(rows, acts)
    else:
        dones = np.zeros((len(rows) - 1, 1), bool)
        a, b = (_stream_run(m, rows[:, None, :], dones) for m in (model, loaded))
    if not np.allclose(a, b, rtol=_ATOL, atol=_ATOL):
        raise RewardModelContractError("the model loaded from its checkpoint rewards differently from the saved one")
    return metrics
