"""Reward landscapes: a reward against one state variable swept over its range (VLM-RM's Figure 2).

Rocamonde et al. (2023, arXiv:2310.12921, seed 004) plot the CLIP reward of
rendered CartPole frames against the pole angle, and of MountainCar frames
against the car position, for several goal–baseline strengths α. judgerl's
embedding judge reads captions, so here each swept state is captioned
(``task.captioner``) and the caption scored; the other state variables are held
at the values in ``LandscapeSweep.base`` (cart centred and still; car at rest).
The true reward (``judgerl.evaluation.true_reward``) is drawn beside it.

Data (:func:`landscape_data`) are plain JSON, so a plot can be redrawn
(:func:`plot_landscape`) without recomputing: ``judgerl sweep-alpha`` writes one per
task with every α (``SWEEP_LANDSCAPE_FILE``).
A single run's report draws the 2-D landscape of its final reward instead
(``judgerl.evaluation.landscape``, zero-shot runs included).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.evaluation.true_reward import get_true_reward, has_true_reward
from judgerl.tasks import get_task

SWEEP_LANDSCAPE_FILE = "landscape.json"


@dataclass(frozen=True)
class LandscapeSweep:
    """Which state variable is swept, over what, with the others held where.

    Attributes:
        dim: Index into the true reward's box coordinates (``TrueReward.low``).
        label: Axis label.
        low: Sweep start.
        high: Sweep end.
        base: Box coordinates of the held state, shape ``(K,)``.
        goal: Where the goal is on the swept axis (a vertical line), or ``None``.
    """

    dim: int
    label: str
    low: float
    high: float
    base: tuple[float, ...]
    goal: float | None


SWEEPS: dict[str, LandscapeSweep] = {
    "cartpole/balance-v0": LandscapeSweep(2, "pole angle (rad; + = right)", -0.3, 0.3, (0.0, 0.0, 0.0, 0.0), 0.0),
    "mountaincar/reach-flag-v0": LandscapeSweep(0, "car position", -1.2, 0.6, (-0.5, 0.0), 0.5),
    "pendulum/swingup-v0": LandscapeSweep(0, "angle from upright (rad)", -math.pi, math.pi, (0.0, 0.0), 0.0),
}


def has_landscape(task_id: str) -> bool:
    """Whether ``task_id`` has a sweep and a true reward to draw."""
    return task_id in SWEEPS and has_true_reward(task_id)


def swept_states(task_id: str, n: int = 201) -> tuple[np.ndarray, np.ndarray]:
    """The swept values ``(n,)`` and their observation rows ``(n, O)``."""
    sweep, truth = SWEEPS[task_id], get_true_reward(task_id)
    xs = np.linspace(sweep.low, sweep.high, n)
    box = np.tile(np.asarray(sweep.base, np.float64), (n, 1))
    box[:, sweep.dim] = xs
    return xs, np.asarray(truth.to_obs(box), np.float64)


def landscape_data(
    task_id: str,
    scorers: dict[str, Callable[[Sequence[str]], np.ndarray]],
    n: int = 201,
    offsets: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Scores of captions of swept states, per named scorer (e.g. one per α), with the true reward.

    Args:
        task_id: A task with a sweep (``SWEEPS``) and a true reward.
        scorers: Name (e.g. ``"alpha=0.5"``) → ``captions -> scores (N,)``.
        n: Points on the sweep.
        offsets: Per name, the score of the absorbing row the run subtracts (``absorbing_offset``), to show.

    Returns:
        JSON-ready: ``task``, ``x_label``, ``x``, ``goal``, ``captions``, ``true_reward``,
        ``terminal`` (bools), ``series`` (name → scores), ``absorbing_offset`` (name → value).
    """
    task, sweep, truth = get_task(task_id), SWEEPS[task_id], get_true_reward(task_id)
    xs, obs = swept_states(task_id, n)
    captions = [task.captioner(o.astype(np.float32)) for o in obs]
    acts = np.zeros((n, 1))
    return {
        "task": task_id,
        "x_label": sweep.label,
        "x": xs.tolist(),
        "goal": sweep.goal,
        "captions": captions,
        "true_reward": truth.reward(obs, acts).tolist(),
        "terminal": truth.is_terminal(obs).tolist(),
        "series": {name: np.asarray(f(captions), np.float64).tolist() for name, f in scorers.items()},
        "absorbing_offset": dict(offsets or {}),
    }


def plot_landscape(data: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Draw :func:`landscape_data` output: one line per series, the true reward on a second axis.

    Args:
        data: As returned by :func:`landscape_data` (or read from ``landscape.json``).
        path: PNG to write.
        title: Figure title; default: the task id.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray(data["x"])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    cmap = plt.get_cmap("viridis")
    names = list(data["series"])
    offsets = data.get("absorbing_offset") or {}
    for i, name in enumerate(names):
        color = cmap(i / max(1, len(names) - 1))
        ax.plot(x, data["series"][name], color=color, label=name, lw=1.6)
        if name in offsets:  # what the episode's end is worth: live steps below this line pay the agent to end it
            ax.axhline(float(offsets[name]), color=color, ls=(0, (1, 3)), lw=1)
    terminal = np.asarray(data["terminal"], bool)
    if terminal.any():
        ax.fill_between(x, 0, 1, where=terminal, transform=ax.get_xaxis_transform(), color="0.9", label="terminal")
    if data.get("goal") is not None:
        ax.axvline(float(data["goal"]), color="k", ls=":", lw=1, label="goal")
    ax.set_xlabel(data["x_label"])
    ax.set_ylabel("zero-shot reward (caption score)")
    twin = ax.twinx()
    twin.plot(x, data["true_reward"], color="crimson", ls="--", lw=1.2, label="true reward")
    twin.set_ylabel("true reward", color="crimson")
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="best")
    ax.set_title(title or data["task"], fontsize=9)
    if offsets:
        ax.text(0.01, 0.01, "dotted: score of the absorbing state (subtracted)", transform=ax.transAxes, fontsize=6)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
