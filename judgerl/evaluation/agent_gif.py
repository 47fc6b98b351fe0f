"""Short GIFs of the agent for the report: after the first iteration (``media/agent_start.gif``) and at the end.

One episode of the policy (``eval.deterministic`` actions, reset seed
``50000 + seed``, the same start for both GIFs so they can be compared) is
rendered with ``render_mode="rgb_array"``, at most ``eval.gif_frames`` frames
evenly spaced over it (the last always kept), each downscaled to
``eval.gif_width`` pixels wide, and written with imageio at 20 frames per second.
A GIF of about 100 frames at 160 px is 100-300 kB, small enough to inline in
the report. Tasks that render text (NetHack) get the text replay instead;
a task whose env cannot render frames gets no GIF and a note on stderr, never
a failed run.

The recording runs after the iteration's evaluation and before the next
iteration reseeds the agent, so it shifts no random draw that matters.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from judgerl.envs.factory import make_env
from judgerl.envs.spaces import stack_obs
from judgerl.evaluation.ground_truth import Policy, sb3_policy
from judgerl.evaluation.text_replay import renders_text
from judgerl.types import TaskSpec

GIF_SEED = 50_000
"""Reset seed offset of the recorded episode (``+ seed``)."""

START_GIF = "media/agent_start.gif"
END_GIF = "media/agent_end.gif"


def record_frames(task: TaskSpec, policy: Policy | None, seed: int, max_frames: int, width: int) -> list[np.ndarray]:
    """Render one episode and keep up to ``max_frames`` frames, evenly spaced, the last included.

    Args:
        task: The task (its env must support ``render_mode="rgb_array"``).
        policy: Batched policy (``None``: random actions).
        seed: Reset seed.
        max_frames: Frames kept (at least 1).
        width: Width of each kept frame in pixels (height keeps the aspect ratio).

    Returns:
        Frames ``(H, W, 3)`` uint8, in step order (the first is the state after reset).
    """
    from PIL import Image

    env = make_env(task, seed=None, render=True)
    frames: list[np.ndarray] = []
    try:
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        done = False
        frames.append(np.asarray(env.render()))
        while not done:
            action = env.action_space.sample() if policy is None else policy(stack_obs(env.observation_space, [obs]))[0]
            obs, _, terminated, truncated, _ = env.step(action)
            done = bool(terminated or truncated)
            frames.append(np.asarray(env.render()))
    finally:
        env.close()
    keep = np.unique(np.linspace(0, len(frames) - 1, max(1, max_frames)).round().astype(int))
    out = []
    for i in keep:
        img = Image.fromarray(frames[i][..., :3].astype(np.uint8))
        height = max(1, round(img.height * width / img.width))
        out.append(np.asarray(img.resize((width, height), Image.Resampling.LANCZOS)))
    return out


def write_agent_gif(cfg: Any, task: TaskSpec, agent: Any, rel_path: str) -> Path | None:
    """Record the agent's GIF into the run directory when ``eval.gif_frames`` > 0 and the task renders frames.

    Args:
        cfg: The run config (``eval.gif_frames``, ``eval.gif_width``, ``eval.deterministic``, ``seed``, ``run_dir``).
        task: The task.
        agent: An SB3 model.
        rel_path: :data:`START_GIF` or :data:`END_GIF`.

    Returns:
        The GIF's path, or ``None`` when none was written.
    """
    if cfg.eval.gif_frames <= 0 or renders_text(task):
        return None
    from judgerl.study.media import write_gif

    try:
        frames = record_frames(
            task,
            sb3_policy(agent, cfg.eval.deterministic),
            GIF_SEED + cfg.seed,
            cfg.eval.gif_frames,
            cfg.eval.gif_width,
        )
    except Exception as e:  # noqa: BLE001 - a GIF is a nicety: a renderer missing or failing must not stop a run
        print(f"judgerl: no GIF of the agent ({type(e).__name__}: {e})", file=sys.stderr)
        return None
    path = Path(cfg.run_dir) / rel_path
    tmp = path.with_name(f".{path.stem}.tmp-{id(frames)}.gif")  # a killed writer leaves no half GIF
    write_gif(frames, tmp, fps=20.0)
    tmp.replace(path)
    return path
