"""humanoid/kneel-v0 (VLM-RM, seed 004): the kneeling proxy, the missing-extra message, and a MuJoCo smoke test."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from judgerl.config import ConfigError, load_config, validate_references
from judgerl.envs import humanoid as hum
from judgerl.envs.factory import make_env
from judgerl.install_hints import install_hint
from judgerl.tasks import get_task
from judgerl.testing.optional import skip_missing

TASK = get_task("humanoid/kneel-v0")
HAS_MUJOCO = importlib.util.find_spec("mujoco") is not None


@pytest.fixture
def needs_mujoco() -> None:
    """Skip without the `mujoco` extra (naming its install command); under `make test` a missing extra fails."""
    if not HAS_MUJOCO:
        skip_missing(f"extra `mujoco` is not installed: {install_hint('mujoco')}")


def pose(z: float, quat: tuple[float, float, float, float] = (1, 0, 0, 0), shin_n: float = 0.0) -> np.ndarray:
    """A synthetic Humanoid-v5 observation: torso height and orientation, a contact force on the right shin."""
    obs = np.zeros(hum.OBS_SIZE, np.float64)
    obs[hum.TORSO_Z] = z
    obs[hum.TORSO_QUAT] = quat
    shin = hum.CONTACT_START + 6 * hum.BODIES.index("right_shin")
    obs[shin + 5] = shin_n  # the vertical force component
    return obs


def test_kneeling_proxy_needs_height_posture_and_a_shin_on_the_floor() -> None:
    c45 = float(np.cos(np.pi / 4))
    cases = {
        "kneeling": (pose(0.9, shin_n=200.0), True),
        "standing": (pose(1.4), False),
        "crouching, no knee down": (pose(0.9), False),
        "lying, shin on the floor": (pose(0.2, shin_n=200.0), False),
        "kneeling height but horizontal": (pose(0.9, quat=(c45, c45, 0, 0), shin_n=200.0), False),
    }
    for name, (obs, want) in cases.items():
        assert bool(hum.kneeling(obs)) is want, name
        assert TASK.success(0.0, obs) is want, name
    batch = np.stack([c[0] for c in cases.values()])
    np.testing.assert_array_equal(hum.kneeling(batch), [c[1] for c in cases.values()])
    assert TASK.captioner(pose(0.9, shin_n=200.0)) == (
        "the humanoid robot is low, at kneeling height, its torso upright, one knee on the floor"
    )
    assert "standing tall" in TASK.captioner(pose(1.4)) and "no knee" in TASK.captioner(pose(1.4))
    assert TASK.goal_text == "a humanoid robot kneeling" and TASK.baseline_text == "a humanoid robot"


def test_without_mujoco_the_task_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mujoco" else real(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'judgerl\[mujoco\]'"):
        make_env(TASK, seed=0)
    with pytest.raises(ConfigError, match=r"task.id: MuJoCo tasks need mujoco: run `make extras`.*'judgerl\[mujoco\]'"):
        validate_references(
            load_config(None, ["task.id=humanoid/kneel-v0", "reward.model=none", "reward.mix.env_weight=1"])
        )


@pytest.mark.usefixtures("needs_mujoco")
def test_humanoid_runs_fixed_length_episodes_and_renders() -> None:
    env = make_env(TASK, seed=0, render=True)
    obs, _ = env.reset(seed=0)
    u = env.unwrapped
    # The observation layout the proxy reads, checked against the model.
    assert [u.model.body(i).name for i in range(1, 14)] == list(hum.BODIES)  # type: ignore[attr-defined]
    assert obs.shape == (hum.OBS_SIZE,) and obs[hum.TORSO_Z] == pytest.approx(u.data.qpos[2])  # type: ignore[attr-defined]
    assert not hum.kneeling(obs)  # standing at reset
    frame = env.render()
    assert frame.shape == (hum.RENDER_SIZE, hum.RENDER_SIZE, 3) and frame.dtype == np.uint8 and frame.std() > 0
    rng = np.random.default_rng(0)
    for t in range(1, 101):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-0.4, 0.4, 17).astype(np.float32))
        assert not terminated  # a fall never ends the episode
        assert truncated == (t == 100) and reward in (0.0, 1.0) and "locomotion_reward" in info
    np.testing.assert_allclose(
        obs[hum.CONTACT_START :],
        np.asarray(u.data.cfrc_ext[1:]).ravel(),  # type: ignore[attr-defined]
    )
    # A kneeling pose (knees bent 90 degrees, dropped onto them) satisfies the proxy once the shins land.
    env.reset(seed=0)
    qpos = np.array(u.data.qpos)  # type: ignore[attr-defined]
    qpos[2], qpos[13], qpos[17] = 0.95, -1.57, -1.57  # torso height, right and left knee
    u.set_state(qpos, np.zeros_like(u.data.qvel))  # type: ignore[attr-defined]
    seen = []
    for _ in range(20):
        obs, reward, *_ = env.step(np.zeros(17, np.float32))
        seen.append(reward)
    assert max(seen) == 1.0 and "knee" in TASK.captioner(obs)
    env.close()


@pytest.mark.usefixtures("needs_mujoco")
def test_the_clip_reward_scores_humanoid_frames(tmp_path: Path) -> None:
    pytest.importorskip("transformers", reason="extra `clip` not installed")
    from judgerl.config import ZeroShotConfig
    from judgerl.envs.factory import make_vec_env
    from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
    from judgerl.judges.zero_shot import ClipJudge
    from judgerl.reward.zero_shot_frames import ClipFrameReward
    from judgerl.testing.tiny_clip import save_random_clip

    model = save_random_clip(tmp_path / "clip")
    reward = ClipFrameReward(ClipJudge(ZeroShotConfig(model=str(model), device="cpu"), TASK))
    venv = LearnedRewardVecEnv(make_vec_env(TASK, 1, seed=0, frame_size=reward.frame_size), reward)
    venv.reset()
    for _ in range(3):
        _, rewards, _, _ = venv.step(np.zeros((1, 17), np.float32))
        assert rewards.shape == (1,) and np.isfinite(rewards[0])
    assert reward.frames_scored == 3
    venv.close()
    cfg = load_config(str(Path(__file__).resolve().parents[2] / "configs" / "humanoid_kneel_clip.yaml"), [])
    assert cfg.task.id == TASK.id and cfg.judge.zero_shot.goal_text is None  # the task's texts: VLM-RM's prompts
    validate_references(
        load_config(
            str(Path(__file__).resolve().parents[2] / "configs" / "humanoid_kneel_clip.yaml"),
            [f"judge.zero_shot.model={model}"],
        )
    )
