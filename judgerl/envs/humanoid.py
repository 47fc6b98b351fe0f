"""MuJoCo Humanoid for VLM-RM's pose tasks (seed 004): fixed-length episodes and a kneeling proxy.

The env is gymnasium's ``Humanoid-v5`` as VLM-RM used it (Rocamonde et al.
2023, ``vlmrm/envs/mujoco/clip_rewarded_humanoid.py``): falling does not end
the episode (``terminate_when_unhealthy=False``) and every episode lasts the
task's ``max_episode_steps`` (100), so a reward of frames sees every pose the
agent tries, the fallen ones included. VLM-RM ends the episode as
*terminated* at that length; here gymnasium's time limit *truncates* it, which
lets SB3 bootstrap the last value (the pose task has no real end).

Renders are 480×480, the size VLM-RM rendered the humanoid at, with
gymnasium's default tracking camera; CLIP's preprocessing then resizes them
(``judgerl.envs.frames``). Headless rendering needs an OpenGL backend:
``MUJOCO_GL=egl`` is set when unset and no display is present (EGL from
libEGL, software-rendered by Mesa when there is no GPU: ~90–130 ms per frame
on 2 cores); ``MUJOCO_GL=osmesa`` is the other choice.

**There is no ground-truth reward for kneeling.** The env's reward is replaced
by an honest *proxy*, :func:`kneeling`: torso height in a band, torso upright,
and a shin touching the floor (a contact force on a shin). It is 1 per step
while the proxy holds, so an episode's return is the number of steps spent
kneeling, and a task's success is the proxy at the final step. It can be fooled
(a shin on the floor beside a crouch), it is no human judgement (VLM-RM's
success rates were human-labelled), and it says nothing about what CLIP sees.
Humanoid-v5's own locomotion reward is kept in ``info["locomotion_reward"]``.

``mujoco`` is an optional dependency (``pip install 'judgerl[mujoco]'``): this
module imports it only when an env is built.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

MUJOCO_MISSING = (
    "MuJoCo tasks need mujoco: run `make extras` in the judgerl checkout, or `pip install 'judgerl[mujoco]'`; "
    "headless rendering uses MUJOCO_GL=egl (set MUJOCO_GL=osmesa where EGL is missing)"
)
ENV_ID = "judgerl/HumanoidFixedLength-v0"
RENDER_SIZE = 480

# Humanoid-v5's observation (exclude_current_positions_from_observation=True, 348 values):
# qpos[2:] (22) | qvel (23) | cinert[1:] (13 x 10) | cvel[1:] (13 x 6) | qfrc_actuator[6:] (17) | cfrc_ext[1:] (13 x 6).
# Bodies after the world, in order: torso, lwaist, pelvis, right_thigh, right_shin, right_foot, left_thigh, left_shin,
# left_foot, right_upper_arm, right_lower_arm, left_upper_arm, left_lower_arm (checked against the model in
# tests/unit/test_humanoid.py when mujoco is installed).
OBS_SIZE = 348
TORSO_Z = 0  # qpos[2]: height of the torso's centre (1.4 standing)
TORSO_QUAT = slice(1, 5)  # qpos[3:7]: torso orientation (w, x, y, z)
CONTACT_START = 22 + 23 + 13 * 10 + 13 * 6 + 17  # 270: cfrc_ext[1:] flattened
BODIES = (
    "torso",
    "lwaist",
    "pelvis",
    "right_thigh",
    "right_shin",
    "right_foot",
    "left_thigh",
    "left_shin",
    "left_foot",
    "right_upper_arm",
    "right_lower_arm",
    "left_upper_arm",
    "left_lower_arm",
)
SHINS = (BODIES.index("right_shin"), BODIES.index("left_shin"))

# The proxy's thresholds: a humanoid kneeling upright on one or both knees has its torso at ~0.9 m
# (standing: 1.4 m, lying: < 0.4 m) and a shin on the floor with a contact force of ~100-300 N.
KNEEL_Z = (0.6, 1.1)
KNEEL_UPRIGHT = 0.7  # the torso's up axis, z component (1 = upright, 0 = horizontal)
CONTACT_N = 1.0


def torso_upright(obs: np.ndarray) -> np.ndarray:
    """z component of the torso's up axis (1 upright, 0 horizontal, −1 upside down); shape ``obs.shape[:-1]``."""
    q = np.asarray(obs, dtype=np.float64)[..., TORSO_QUAT]
    return 1.0 - 2.0 * (q[..., 1] ** 2 + q[..., 2] ** 2)


def contact_forces(obs: np.ndarray) -> np.ndarray:
    """Norm of each body's external contact force/torque, shape ``obs.shape[:-1] + (13,)``."""
    o = np.asarray(obs, dtype=np.float64)
    cf = o[..., CONTACT_START : CONTACT_START + 13 * 6].reshape(*o.shape[:-1], 13, 6)
    return np.linalg.norm(cf, axis=-1)


def kneeling(obs: np.ndarray) -> np.ndarray:
    """The kneeling proxy (see the module docstring): torso height band, torso upright, a shin on the floor.

    Args:
        obs: Humanoid-v5 observations, shape ``(348,)`` or ``(T, 348)``.

    Returns:
        Boolean(s), shape ``obs.shape[:-1]``.
    """
    o = np.asarray(obs, dtype=np.float64)
    z = o[..., TORSO_Z]
    shin = contact_forces(o)[..., list(SHINS)].max(axis=-1) > CONTACT_N
    return (z >= KNEEL_Z[0]) & (z <= KNEEL_Z[1]) & (torso_upright(o) >= KNEEL_UPRIGHT) & shin


class KneelingProxyReward(gym.Wrapper):
    """Reward 1 while :func:`kneeling` holds, else 0; the locomotion reward goes to ``info["locomotion_reward"]``."""

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step; replace the reward with the proxy's verdict on the state reached."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        info["locomotion_reward"] = float(reward)
        return obs, float(kneeling(obs)), terminated, truncated, info


def require_mujoco() -> None:
    """Raise ImportError naming the install command when mujoco is missing; choose EGL when headless."""
    if importlib.util.find_spec("mujoco") is None:
        raise ImportError(MUJOCO_MISSING)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("MUJOCO_GL", "egl")  # read when mujoco's renderer first starts


def make_humanoid(render_mode: str | None = None, **kwargs: Any) -> gym.Env:
    """Humanoid-v5 with fixed-length episodes (never terminated) and the kneeling proxy reward.

    Args:
        render_mode: ``rgb_array`` for frames (480×480), or ``None``.
        **kwargs: More ``HumanoidEnv`` arguments (they override the defaults here).

    Returns:
        The env (gymnasium adds the time limit: ``max_episode_steps``).
    """
    require_mujoco()
    from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

    args: dict[str, Any] = {"terminate_when_unhealthy": False, "width": RENDER_SIZE, "height": RENDER_SIZE}
    args.update(kwargs)
    return KneelingProxyReward(HumanoidEnv(render_mode=render_mode, **args))


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point=make_humanoid)
