"""The reward landscape: the final learned reward and the true reward on a grid over a low-dimensional state.

Seed 000 showed its learned Pendulum reward as an angle × angular-velocity
heatmap next to the true reward; VLM-RM (seed 004) plotted its CLIP reward
against the pole angle and the car position. At the end of a run (the final
evaluation stage) the run's Markov reward model -- learned or zero-shot -- is
evaluated once on a ``n × n`` grid of states and written to ``landscape.json``
with the true reward on the same grid; the report draws both from that file
and computes nothing.

Grids (the other state variables fixed, one fixed action, stated in the file):

* ``Pendulum-v1``: angle from upright θ ∈ [−π, π] × angular velocity
  θ̇ ∈ [−8, 8]; observation ``[cos θ, sin θ, θ̇]``; action 0 (no torque); true
  reward ``−(θ² + 0.1·θ̇²)`` (Pendulum's cost at zero torque).
* ``CartPole-v1``: pole angle ∈ [−0.25, 0.25] rad × pole angular velocity ∈
  [−2, 2] rad/s, cart at rest at the centre; action 0 (push left); true reward
  1 while |angle| ≤ 12° (the episode ends beyond), 0 outside.
* ``MountainCar-v0``: position ∈ [−1.2, 0.6] × velocity ∈ [−0.07, 0.07];
  action 1 (no push); true reward −1 before the flag (position < 0.5), 0 at it.

A history-dependent reward (``episode_classifier``) has no value per state and
gets no landscape; nor do tasks without a grid here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.runstate import write_atomic
from judgerl.types import TaskSpec

LANDSCAPE_FILE = "landscape.json"


@dataclass(frozen=True)
class GridSpec:
    """How to lay a 2-D grid over one env's states.

    Attributes:
        x_name: Label of the x axis (with unit).
        x_range: ``(low, high)`` of the x axis.
        y_name: Label of the y axis.
        y_range: ``(low, high)`` of the y axis.
        obs: ``(x (N,), y (N,)) -> observations (N, O)`` float32.
        action: The action every grid point is scored with, shape ``(A,)``.
        action_note: The action in words.
        true_reward: ``(x (N,), y (N,)) -> true reward (N,)``.
        true_note: The true reward in words.
    """

    x_name: str
    x_range: tuple[float, float]
    y_name: str
    y_range: tuple[float, float]
    obs: Callable[[np.ndarray, np.ndarray], np.ndarray]
    action: tuple[float, ...]
    action_note: str
    true_reward: Callable[[np.ndarray, np.ndarray], np.ndarray]
    true_note: str


def _stack(*cols: np.ndarray) -> np.ndarray:
    return np.stack(cols, axis=1).astype(np.float32)


GRIDS: dict[str, GridSpec] = {
    "Pendulum-v1": GridSpec(
        "angle from upright θ (rad)",
        (-math.pi, math.pi),
        "angular velocity θ̇ (rad/s)",
        (-8.0, 8.0),
        lambda x, y: _stack(np.cos(x), np.sin(x), y),
        (0.0,),
        "no torque",
        lambda x, y: -(x**2 + 0.1 * y**2),
        "−(θ² + 0.1·θ̇²), Pendulum's cost at zero torque",
    ),
    "CartPole-v1": GridSpec(
        "pole angle (rad)",
        (-0.25, 0.25),
        "pole angular velocity (rad/s)",
        (-2.0, 2.0),
        lambda x, y: _stack(np.zeros_like(x), np.zeros_like(x), x, y),
        (0.0,),
        "push left, cart at rest at the centre",
        lambda x, y: (np.abs(x) <= math.radians(12.0)).astype(np.float64),
        "1 while |angle| ≤ 12° (beyond, the episode ends), else 0",
    ),
    "MountainCar-v0": GridSpec(
        "position",
        (-1.2, 0.6),
        "velocity",
        (-0.07, 0.07),
        lambda x, y: _stack(x, y),
        (1.0,),
        "no push",
        lambda x, y: np.where(x >= 0.5, 0.0, -1.0),
        "−1 per step before the flag (position ≥ 0.5 ends the episode)",
    ),
}


def compute_landscape(task: TaskSpec, model: Any, n: int) -> dict[str, Any] | None:
    """Evaluate ``model.predict`` and the true reward on an ``n × n`` grid of the task's states.

    Args:
        task: The task; only envs in :data:`GRIDS` have a landscape.
        model: A Markov reward model (``predict(obs (N, O), acts (N, A), dones)``).
        n: Grid points per axis (at least 2).

    Returns:
        ``{"task", "env_id", "x_name", "x", "y_name", "y", "learned", "true", "action", "true_note"}``
        with ``x`` ``(n,)``, ``y`` ``(n,)`` and ``learned``/``true`` ``(n, n)`` as nested lists
        (row ``i`` = ``y[i]``, column ``j`` = ``x[j]``), or ``None`` without a grid or a Markov model.
    """
    spec = GRIDS.get(task.env_id)
    if spec is None or n < 2 or not callable(getattr(model, "predict", None)):
        return None
    xs = np.linspace(*spec.x_range, n)
    ys = np.linspace(*spec.y_range, n)
    gx, gy = np.meshgrid(xs, ys)  # (n, n): row = y, column = x
    x, y = gx.ravel(), gy.ravel()
    obs = spec.obs(x, y)
    acts = np.tile(np.asarray(spec.action, np.float32), (len(obs), 1))
    learned = np.asarray(model.predict(obs, acts, np.zeros(len(obs), np.float32)), np.float64).reshape(n, n)
    true = np.asarray(spec.true_reward(x, y), np.float64).reshape(n, n)
    return {
        "task": task.id,
        "env_id": task.env_id,
        "x_name": spec.x_name,
        "x": xs.tolist(),
        "y_name": spec.y_name,
        "y": ys.tolist(),
        "learned": learned.tolist(),
        "true": true.tolist(),
        "action": spec.action_note,
        "true_note": spec.true_note,
    }


def write_landscape(run_dir: Path, task: TaskSpec, model: Any, n: int) -> Path | None:
    """Compute the landscape and write ``landscape.json`` atomically; ``None`` when the task has none."""
    data = compute_landscape(task, model, n)
    if data is None:
        return None
    path = Path(run_dir) / LANDSCAPE_FILE
    write_atomic(path, json.dumps(data))
    return path
