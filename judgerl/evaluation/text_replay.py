"""A text replay of the final agent for envs that render text (NetHack's terminal), shown in the report.

Envs that render frames get plots and GIFs; NetHack renders its 24×80 terminal
(``render_mode="ansi"``). After the final evaluation one episode of the final
agent is played and up to ``eval.replay_screens`` screens, evenly spaced over the
episode, the last one always included, are written to ``media/replay.json``;
the report shows them as text, one collapsible block each. This is how a user
sees *what* the agent does with the reward (walks into walls, farms one message,
descends) beside the reward audit's numbers.
"""

from __future__ import annotations

import html
import importlib
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from judgerl.envs.spaces import flatten_one, stack_obs
from judgerl.evaluation.reward_audit import Policy
from judgerl.types import TaskSpec

REPLAY_FILE = "media/replay.json"


def renders_text(task: TaskSpec) -> bool:
    """Whether the task's env declares ``render_mode="ansi"`` (checked on the registered class, no env built)."""
    module, _, env_id = task.env_id.rpartition(":")
    try:
        if module:
            importlib.import_module(module)  # gymnasium's "module:EnvId" form: the module registers the env
        spec = gym.spec(env_id)
    except (gym.error.Error, ImportError):
        return False
    entry = spec.entry_point
    cls = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
    return "ansi" in getattr(cls, "metadata", {}).get("render_modes", [])


def record_screens(task: TaskSpec, policy: Policy | None, seed: int, screens: int) -> list[dict[str, Any]]:
    """Play one episode and keep up to ``screens`` text screens, evenly spaced, the last included.

    Args:
        task: A task whose env renders ``ansi``.
        policy: Batched policy (``None``: random actions).
        seed: Reset seed of the episode.
        screens: Screens kept (at least 1).

    Returns:
        ``[{"step": t, "caption": str, "screen": str}, ...]`` in step order (step 0 = after reset).
    """
    env = gym.make(task.env_id, max_episode_steps=task.max_episode_steps, render_mode="ansi", **task.env_kwargs)
    shown: list[dict[str, Any]] = []
    try:
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        done, t = False, 0
        while True:
            caption = task.captioner(flatten_one(env.observation_space, obs))
            shown.append({"step": t, "caption": caption, "screen": str(env.render())})
            if done:
                break
            action = env.action_space.sample() if policy is None else policy(stack_obs(env.observation_space, [obs]))[0]
            obs, _, terminated, truncated, _ = env.step(action)
            done, t = bool(terminated or truncated), t + 1
    finally:
        env.close()
    keep = np.unique(np.linspace(0, len(shown) - 1, max(1, screens)).round().astype(int))
    return [shown[i] for i in keep]


def write_replay(run_dir: Path, shots: list[dict[str, Any]]) -> Path:
    """Write the screens to ``media/replay.json`` (atomically enough for a report: one write)."""
    path = Path(run_dir) / REPLAY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(shots))
    return path


def replay_html(run_dir: Path) -> str:
    """The report's replay section, or ``""`` when the run has no text replay."""
    path = Path(run_dir) / REPLAY_FILE
    if not path.exists():
        return ""
    shots = json.loads(path.read_text())
    parts = [f"<h2>Replay of the final agent ({len(shots)} screens of one episode)</h2>"]
    for i, s in enumerate(shots):
        attr = " open" if i in (0, len(shots) - 1) else ""
        summary = f"step {s['step']}: {html.escape(s['caption'])}"
        parts.append(f"<details{attr}><summary>{summary}</summary><pre>{html.escape(s['screen'])}</pre></details>")
    return "\n".join(parts)


def final_replay(cfg: Any, task: TaskSpec, agent: Any) -> None:
    """Record and write the final agent's text replay when the task renders text and ``eval.replay_screens`` > 0."""
    if cfg.eval.replay_screens <= 0 or not renders_text(task):
        return
    from judgerl.evaluation.ground_truth import sb3_policy

    shots = record_screens(task, sb3_policy(agent, cfg.eval.deterministic), 40_000 + cfg.seed, cfg.eval.replay_screens)
    write_replay(cfg.run_dir, shots)
