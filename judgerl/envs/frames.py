"""Rendered frames for rewards that look at pixels (CLIP, VLM-RM): resizing, and a wrapper that adds them to ``info``.

Which frame: the reward of a step is the score of the frame of the state the
step *reached*, ``render()`` right after ``env.step`` (VLM-RM renders after
each step too: ``R(s_{t+1})``). The frame is taken inside each env, before
SB3's ``DummyVecEnv`` resets a finished episode, so the last step of an episode
is scored on its own final state, not on the next episode's first one (the
frame a ``VecEnv.get_images()`` call after the step would give). See
``docs/decisions/0023-frame-rewards.md``.

Frames are stored at CLIP's input size: :func:`clip_resize` does exactly what
CLIP's preprocessing does to a frame's geometry (shorter side to ``size`` with
bicubic filtering, centre crop), so a stored ``(size, size, 3)`` frame scores
exactly like the full render and costs ``size² · 3`` bytes (147 KB at 224).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

FRAME_KEY = "frame"
"""``info`` key of the ``(size, size, 3)`` uint8 frame of the state the step reached."""


def clip_resize(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (bicubic) and centre-crop to ``size × size``, as CLIP's preprocessing does.

    The long side is truncated as transformers' CLIP processor truncates it, so
    applying this to an already resized frame is the identity.

    Args:
        frame: One RGB frame, shape ``(H, W, 3)`` uint8.
        size: Output side length in pixels (the vision tower's ``image_size``).

    Returns:
        The frame, shape ``(size, size, 3)`` uint8.
    """
    from PIL import Image

    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"a frame must have shape (H, W, 3), got {arr.shape}")
    h, w = arr.shape[:2]
    if (h, w) == (size, size):
        return arr.astype(np.uint8, copy=False)
    img = Image.fromarray(arr.astype(np.uint8), mode="RGB")
    scale = size / min(w, h)
    nw, nh = max(size, int(w * scale)), max(size, int(h * scale))
    img = img.resize((nw, nh), resample=Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


class FrameInfo(gym.Wrapper):
    """Render after every step and put the frame, resized for CLIP, into ``info[FRAME_KEY]``.

    The env must have been made with ``render_mode="rgb_array"``
    (``judgerl.envs.factory.make_vec_env(..., frame_size=size)`` does both).

    Args:
        env: The env (inside SB3's ``Monitor``, outside the time limit is fine).
        size: Side length of the stored frames (CLIP's ``image_size``).
    """

    def __init__(self, env: gym.Env, size: int) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(f"FrameInfo needs render_mode='rgb_array', the env has {env.render_mode!r}")
        self.size = int(size)

    def frame(self) -> np.ndarray:
        """The current state's frame, shape ``(size, size, 3)`` uint8."""
        return clip_resize(np.asarray(self.env.render()), self.size)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step, then render the state reached (before any reset the vector env does)."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        info[FRAME_KEY] = self.frame()
        return obs, reward, terminated, truncated, info
