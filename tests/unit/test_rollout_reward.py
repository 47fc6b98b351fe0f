"""Per-rollout (deferred) reward scoring gives PPO exactly what per-step scoring gives it."""

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback

from judgerl.agents.callbacks import ReturnRecorder, RolloutRewardCallback, reward_callbacks
from judgerl.agents.sb3 import quiet
from judgerl.envs.factory import make_vec_env
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer
from judgerl.tasks import get_task

CART = get_task("cartpole/balance-v0")
PEND = get_task("pendulum/swingup-v0")


class Linear:
    """r = obs . w + 0.5 * act[0]; counts calls and rows."""

    def __init__(self, obs_dim: int):
        self.w = np.linspace(-1.0, 1.0, obs_dim).astype(np.float32)
        self.calls: list[int] = []

    def predict(self, obs, acts, dones=None):
        self.calls.append(len(obs))
        return (obs @ self.w + 0.5 * acts[:, 0]).astype(np.float32)


class BufferSnapshot(BaseCallback):
    """Copies the rollout buffer's rewards, returns and advantages at each rollout end."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        b = self.model.rollout_buffer
        self.seen.append((b.rewards.copy(), b.returns.copy(), b.advantages.copy()))


def _train_ppo(task, per_rollout: bool, mix: MixConfig | None = None, steps=512, key_fn=None):
    torch.manual_seed(0)
    probe = make_vec_env(task, 2, seed=3)
    model = Linear(int(np.prod(probe.observation_space.shape)))
    mixer = RewardMixer(mix or MixConfig(normalize="none"), 2)
    venv = LearnedRewardVecEnv(make_vec_env(task, 2, seed=3), model, mixer, absorbing_offset=False, key_fn=key_fn)
    agent = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
    snap = BufferSnapshot()
    agent.learn(steps, callback=[*reward_callbacks(agent, venv, per_rollout), snap])
    params = torch.cat([p.detach().flatten() for p in agent.policy.parameters()])
    return snap.seen, params, model.calls, venv


@pytest.mark.parametrize("task", [CART, PEND], ids=["cartpole", "pendulum"])
def test_deferred_scoring_trains_ppo_exactly_like_per_step_scoring(task):
    torch.set_num_threads(1)
    # Pendulum episodes end by time limit only (200 steps): 512 steps on 2 envs cross it, so
    # SB3's bootstrap gamma * V(terminal) is added to the deferred zero placeholder and must survive.
    step_seen, step_params, step_calls, _ = _train_ppo(task, per_rollout=False)
    roll_seen, roll_params, roll_calls, _ = _train_ppo(task, per_rollout=True)
    assert len(step_seen) == len(roll_seen) == 4
    for (r1, ret1, adv1), (r2, ret2, adv2) in zip(step_seen, roll_seen, strict=True):
        np.testing.assert_allclose(r2, r1, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ret2, ret1, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(adv2, adv1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(roll_params, step_params, rtol=1e-4, atol=1e-5)
    assert step_calls == [2] * 256  # one call per vec step
    assert roll_calls == [128] * 4  # one call per rollout of 64 steps x 2 envs


def test_deferred_normalizer_scales_each_step_as_per_step_scoring_would():
    torch.set_num_threads(1)
    running = MixConfig(normalize="running")
    step_seen, _, _, v1 = _train_ppo(CART, per_rollout=False, mix=running, steps=256)
    roll_seen, _, _, v2 = _train_ppo(CART, per_rollout=True, mix=running, steps=256)
    a, b = v1.mixer.scale, v2.mixer.scale
    assert b.count == a.count == 256
    assert b.scale == pytest.approx(a.scale, rel=1e-5)
    # The running scale moves a lot over the first steps: a rollout scaled with its final scale would differ.
    for (r1, _, _), (r2, _, _) in zip(step_seen, roll_seen, strict=True):
        np.testing.assert_allclose(r2, r1, rtol=1e-5, atol=1e-6)


def test_episode_log_is_the_same_deferred_or_not():
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 2, size=(300, 3))
    logs = []
    for deferred in (False, True):
        venv = LearnedRewardVecEnv(make_vec_env(CART, 3, seed=5), Linear(4), absorbing_offset=False)
        venv.reset()
        venv.set_deferred(deferred)
        infos_with_learned = 0
        for t, act in enumerate(actions):
            _, rew, _, infos = venv.step(act)
            infos_with_learned += sum("learned_episode" in i for i in infos)
            if deferred:
                assert np.all(rew == 0.0)
            if deferred and t % 37 == 36:
                assert venv.flush().shape == (37, 3)
        venv.set_deferred(False)  # scores what is left
        assert (infos_with_learned > 0) == (not deferred)
        logs.append(venv.pop_episodes())
    assert len(logs[0]) >= 10
    assert [(e["l"], e["true_r"]) for e in logs[1]] == [(e["l"], e["true_r"]) for e in logs[0]]
    np.testing.assert_allclose([e["r"] for e in logs[1]], [e["r"] for e in logs[0]], rtol=1e-5)


def test_recorder_reports_learned_returns_from_the_wrapper_log():
    venv = LearnedRewardVecEnv(make_vec_env(CART, 2, seed=0), Linear(4), absorbing_offset=False)
    agent = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    recorder = ReturnRecorder(venv)
    agent.learn(512, callback=[*reward_callbacks(agent, venv, True), recorder])
    out = recorder.summary()
    assert out["agent/episodes"] > 5
    assert "agent/learned_return" in out and np.isfinite(out["agent/learned_return"])
    assert recorder.summary()["agent/episodes"] == 0.0 and venv.pop_episodes() == []


def test_recorder_reads_each_sb3_update_once_across_learn_calls():
    venv = LearnedRewardVecEnv(make_vec_env(CART, 2, seed=0), Linear(4), absorbing_offset=False)
    agent = quiet(PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu"))
    recorder = ReturnRecorder(venv)
    agent.learn(512, callback=[*reward_callbacks(agent, venv, True), recorder])  # 4 rollouts of 128 steps
    first = recorder.summary()
    assert first["agent/train/updates"] == 4 == agent._n_updates  # one epoch per update
    # CartPole's two actions start near uniform: entropy ln 2 = 0.693 nats, logged negated as the loss
    assert -0.70 < first["agent/train/entropy_loss"] < -0.60
    assert {"approx_kl", "clip_fraction", "value_loss", "explained_variance"} <= {
        k.removeprefix("agent/train/") for k in first
    }
    agent.learn(256, callback=[*reward_callbacks(agent, venv, True), recorder], reset_num_timesteps=False)
    assert recorder.summary()["agent/train/updates"] == 2  # the first call's last update is not read again
    assert "agent/train/updates" not in recorder.summary()  # nothing trained since


def test_recorder_reads_off_policy_updates():
    venv = LearnedRewardVecEnv(make_vec_env(PEND, 1, seed=0), Linear(3), absorbing_offset=False)
    sac = quiet(SAC("MlpPolicy", venv, learning_starts=10, buffer_size=100, batch_size=8, seed=0, device="cpu"))
    recorder = ReturnRecorder(venv)
    sac.learn(30, callback=recorder)
    out = recorder.summary()
    assert out["agent/train/updates"] == sac._n_updates > 10 and np.isfinite(out["agent/train/critic_loss"])


def test_off_policy_agents_keep_per_step_scoring():
    venv = LearnedRewardVecEnv(make_vec_env(PEND, 1, seed=0), Linear(3), absorbing_offset=False)
    sac = SAC("MlpPolicy", venv, learning_starts=10, buffer_size=100, batch_size=8, seed=0, device="cpu")
    assert reward_callbacks(sac, venv, per_rollout=True) == []
    with pytest.raises(TypeError, match="on-policy"):
        sac.learn(20, callback=RolloutRewardCallback(venv))


def test_stepping_outside_the_rollout_is_caught():
    venv = LearnedRewardVecEnv(make_vec_env(CART, 2, seed=0), Linear(4), absorbing_offset=False)
    agent = PPO("MlpPolicy", venv, n_steps=16, batch_size=32, n_epochs=1, seed=0, device="cpu")

    class Meddler(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 8:
                venv.step(np.zeros(2, dtype=np.int64))  # an extra recorded step the buffer never sees
            return True

    with pytest.raises(RuntimeError, match="do not match the rollout buffer"):
        agent.learn(64, callback=[RolloutRewardCallback(venv), Meddler()])


def test_deferred_mixing_with_env_reward_and_count_decay_equals_per_step():
    # Count decay keeps per-episode counts in step order: scoring a whole rollout at its end must give
    # every step the count it had when it happened, across episode ends.
    torch.set_num_threads(1)
    mix = MixConfig(env_weight=1.0, learned_weight=0.5, normalize="running", count_decay=1.0, count_key="obs")

    def key(row):
        return int(row[0] > 0)  # two keys, so counts grow and reset with episodes

    step_seen, _, _, v1 = _train_ppo(CART, per_rollout=False, mix=mix, steps=256, key_fn=key)
    roll_seen, _, _, v2 = _train_ppo(CART, per_rollout=True, mix=mix, steps=256, key_fn=key)
    for (r1, _, _), (r2, _, _) in zip(step_seen, roll_seen, strict=True):
        np.testing.assert_allclose(r2, r1, rtol=1e-5, atol=1e-6)
    assert v1.mixer.pop_stats() == pytest.approx(v2.mixer.pop_stats(), rel=1e-5)


def test_recorder_averages_the_facts_of_finished_episodes_only():
    """``agent/fact/<name>``: each fact's mean over the episodes that ended this iteration, then reset."""

    class NoLearnedLog:
        def pop_episodes(self) -> list[dict]:
            return []

    recorder = ReturnRecorder(NoLearnedLog())  # type: ignore[arg-type]
    recorder.locals = {
        "infos": [
            {"episode": {"r": 1.0, "l": 3}, "episode_facts": {"max_depth": 2.0, "gold": 5}},
            {"episode_facts": {"max_depth": 9.0}},  # an episode still running: not counted
            {"episode": {"r": 0.0, "l": 1}, "episode_facts": {"max_depth": 1.0}},
            {"episode": {"r": 0.0, "l": 2}},  # an env without facts
        ]
    }
    recorder._on_step()
    out = recorder.summary()
    assert out["agent/episodes"] == 3.0
    assert out["agent/fact/max_depth"] == 1.5 and out["agent/fact/gold"] == 5.0
    assert not any(k.startswith("agent/fact/") for k in recorder.summary())
