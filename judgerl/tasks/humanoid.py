"""MuJoCo Humanoid pose tasks from VLM-RM (seed 004): ``humanoid/kneel-v0``, "a humanoid robot kneeling".

The task is specified by its CLIP prompts, as in VLM-RM: goal "a humanoid
robot kneeling", baseline "a humanoid robot"; run it with ``reward.model:
zero_shot`` and ``judge.type: clip`` (``configs/humanoid_kneel_clip.yaml``).
Episodes are 100 steps, never terminated by a fall (``judgerl.envs.humanoid``).

Success and the env's reward are a *proxy* for kneeling, not ground truth:
torso height in 0.6–1.1 m, torso upright, a shin touching the floor
(``judgerl.envs.humanoid.kneeling``). Success = the proxy holds at the final
step; the return = steps spent kneeling by the proxy (0–100).

Needs the ``mujoco`` extra (``pip install 'judgerl[mujoco]'``); the spec
registers without it and building the env then says how to install it.
"""

from __future__ import annotations

import numpy as np

from judgerl.envs.humanoid import ENV_ID, SHINS, TORSO_Z, contact_forces, kneeling, torso_upright
from judgerl.types import Segment, TaskSpec


def humanoid_caption(obs: np.ndarray) -> str:
    """Describe a humanoid pose in words: torso height, posture, what touches the floor."""
    z = float(np.asarray(obs)[TORSO_Z])
    up = float(torso_upright(obs))
    if z > 1.15:
        height = "standing tall"
    elif z >= 0.6:
        height = "low, at kneeling height"
    elif z >= 0.35:
        height = "close to the ground"
    else:
        height = "lying on the ground"
    posture = "upright" if up >= 0.7 else ("leaning over" if up >= 0.2 else "horizontal or upside down")
    shins = contact_forces(obs)[list(SHINS)] > 1.0
    knees = {0: "no knee touches the floor", 1: "one knee on the floor", 2: "both knees on the floor"}[int(shins.sum())]
    return f"the humanoid robot is {height}, its torso {posture}, {knees}"


def _success(true_return: float, final_obs: np.ndarray) -> bool:
    """Kneeling by the proxy at the final step (torso height band, upright, a shin on the floor)."""
    return bool(kneeling(final_obs))


def _verdict(segment: Segment) -> bool:
    """Kneeling by the proxy at the segment's last live step."""
    live = np.asarray(segment.obs)[np.asarray(segment.dones) < 0.5]
    return bool(len(live) and kneeling(live[-1]))


HUMANOID_KNEEL = TaskSpec(
    id="humanoid/kneel-v0",
    instruction="Kneel on the ground.",
    env_id=f"judgerl.envs.humanoid:{ENV_ID}",
    captioner=humanoid_caption,
    success=_success,
    modalities=("frames", "captions", "state"),
    max_episode_steps=100,
    default_algo="SAC",
    question="Is the humanoid robot kneeling?",
    goal_text="a humanoid robot kneeling",
    baseline_text="a humanoid robot",
    segment_length=25,
    absorbing=False,
    oracle_verdict=_verdict,
)

HUMANOID_TASKS = (HUMANOID_KNEEL,)
