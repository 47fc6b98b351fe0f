"""GIFs of a homegrid policy (seed 003's Figure 1: the naive and the feedback agent side by side)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from judgerl.envs.homegrid import HomegridEnv


def policy_frames(model: Any, episodes: int, seed: int, tile_size: int = 16, deterministic: bool = False) -> list:
    """Rendered frames of ``episodes`` episodes of ``model`` (SB3 ``predict``), each followed by a short pause.

    Returns:
        Frames, each ``(12·tile_size, 14·tile_size, 3)`` uint8.
    """
    env = HomegridEnv(render_mode="rgb_array", tile_size=tile_size, captions=False)
    frames: list[np.ndarray] = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + k)
        frame = env.render()
        assert frame is not None
        frames.append(frame)
        done = False
        while not done:
            act, _ = model.predict(obs[None], deterministic=deterministic)
            obs, _, term, trunc, _ = env.step(int(np.asarray(act).reshape(-1)[0]))
            frame = env.render()
            assert frame is not None
            frames.append(frame)
            done = term or trunc
        frames.extend([frames[-1]] * 3)  # hold the last frame: the outcome is visible
    env.close()
    return frames


def write_gif(frames: list, path: str | Path, fps: float = 4.0) -> Path:
    """Write frames to a looping GIF with imageio, ``fps`` frames per second; returns the path.

    imageio's pillow plugin takes ``duration`` in milliseconds per frame (a
    value in seconds makes every frame last a thousandth of what was meant).
    """
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, duration=1000.0 / fps, loop=0)
    return path
