import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO, SAC

from judgerl.agents.replay import replay_buffer_class
from judgerl.envs.factory import make_vec_env
from judgerl.envs.normalize import RunningRewardScale
from judgerl.envs.reward_wrapper import LearnedRewardVecEnv
from judgerl.reward.base import RewardModel
from judgerl.reward.config import MixConfig
from judgerl.reward.mixing import RewardMixer
from judgerl.tasks import get_task

CART = get_task("cartpole/balance-v0")
PEND = get_task("pendulum/swingup-v0")


class SpyModel:
    """r = obs[:, 0] + 2 * acts[:, 0] + bias (bias on absorbing rows too); records every call."""

    def __init__(self, bias: float = 0.0):
        self.bias = bias
        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []

    def predict(self, obs, acts, dones=None):
        self.calls.append((obs.copy(), acts.copy(), None if dones is None else np.asarray(dones).copy()))
        return (obs[:, 0] + 2.0 * acts[:, 0] + self.bias).astype(np.float32)


class ConstModel:
    def __init__(self, c: float):
        self.c = c

    def predict(self, obs, acts, dones=None):
        return np.full(len(obs), self.c, dtype=np.float32)


def test_spy_satisfies_protocol():
    assert isinstance(SpyModel(), RewardModel)


@pytest.mark.parametrize(("task", "n_envs"), [(PEND, 3), (CART, 4)], ids=["pendulum", "cartpole"])
def test_env_reward_kept_and_one_batched_predict_per_step(task, n_envs):
    spy = SpyModel(bias=0.5)
    wrapped = LearnedRewardVecEnv(make_vec_env(task, n_envs, seed=1), spy, absorbing_offset=True)
    plain = make_vec_env(task, n_envs, seed=1)
    obs_w, obs_p = wrapped.reset(), plain.reset()
    rng = np.random.default_rng(0)
    steps = 60
    for _ in range(steps):
        if task is CART:
            actions = rng.integers(0, 2, size=n_envs)
        else:
            actions = rng.uniform(-2, 2, size=(n_envs, 1)).astype(np.float32)
        prev = obs_w.copy()
        obs_w, rew_w, done_w, infos_w = wrapped.step(actions)
        obs_p, rew_p, done_p, _ = plain.step(actions)
        np.testing.assert_array_equal(obs_w, obs_p)
        np.testing.assert_array_equal(done_w, done_p)
        np.testing.assert_allclose([i["env_reward"] for i in infos_w], rew_p, rtol=1e-6)
        acts = np.asarray(actions, np.float32).reshape(n_envs, -1)
        # Offset = model at the absorbing state = 0 + 2*0 + bias.
        np.testing.assert_allclose(rew_w, prev[:, 0] + 2.0 * acts[:, 0], rtol=1e-5, atol=1e-5)
    batch_calls = [c for c in spy.calls if len(c[0]) == n_envs]
    offset_calls = [c for c in spy.calls if len(c[0]) == 1]
    assert len(batch_calls) == steps and len(spy.calls) == steps + 1
    assert all(c[1].shape == (n_envs, 1) and c[1].dtype == np.float32 for c in batch_calls)
    assert all(c[2] is None or not np.any(c[2]) for c in batch_calls)
    (oobs, oacts, odones) = offset_calls[0]
    assert not oobs.any() and not oacts.any() and odones.tolist() == [1.0]


def test_absorbing_offset_zeroes_a_constant_model_and_is_recomputed_on_swap():
    venv = LearnedRewardVecEnv(make_vec_env(CART, 2, seed=0), ConstModel(-3.0), absorbing_offset=True)
    venv.reset()
    for _ in range(20):
        _, rew, _, _ = venv.step(np.array([0, 1]))
        np.testing.assert_allclose(rew, 0.0)
    venv.set_reward_model(ConstModel(7.0))
    _, rew, _, _ = venv.step(np.array([0, 1]))
    np.testing.assert_allclose(rew, 0.0)
    plain = LearnedRewardVecEnv(make_vec_env(CART, 2, seed=0), ConstModel(-3.0), absorbing_offset=False)
    plain.reset()
    _, rew, _, _ = plain.step(np.array([0, 1]))
    np.testing.assert_allclose(rew, -3.0)


def test_learned_episode_reported_at_episode_end():
    venv = LearnedRewardVecEnv(make_vec_env(CART, 3, seed=2), ConstModel(2.0), absorbing_offset=False)
    venv.reset()
    ended = 0
    for _ in range(150):
        _, _, dones, infos = venv.step(np.array([0, 0, 1]))
        for i in range(3):
            assert ("learned_episode" in infos[i]) == bool(dones[i])
            if dones[i]:
                ep, learned = infos[i]["episode"], infos[i]["learned_episode"]
                assert learned["l"] == ep["l"]
                assert learned["r"] == pytest.approx(2.0 * ep["l"])
                assert learned["true_r"] == pytest.approx(ep["r"])
                ended += 1
    assert ended >= 6


def test_running_reward_scale():
    rng = np.random.default_rng(0)
    norm = RunningRewardScale()
    assert norm.scale == 1.0
    data = rng.normal(3.0, 2.0, size=(50, 8))
    for batch in data:
        norm.update(batch)
    assert norm.scale == pytest.approx(np.sqrt(np.mean(data**2)), rel=1e-6)  # RMS, exact Welford merge
    out = norm(np.array([1.0, -2.0]))
    assert np.sign(out).tolist() == [1.0, -1.0]  # never shifted
    std = RunningRewardScale(statistic="std")
    for batch in data:
        std.update(batch)
    assert std.scale == pytest.approx(data.std(), rel=1e-6)
    ema = RunningRewardScale(momentum=0.1)
    for _ in range(200):
        ema.update(np.full(4, 5.0))
    assert ema.scale == pytest.approx(5.0, rel=1e-3)
    with pytest.raises(ValueError):
        RunningRewardScale(momentum=1.5)


def test_wrapper_applies_normalizer_after_offset():
    mixer = RewardMixer(MixConfig(normalize="running"), 2)
    venv = LearnedRewardVecEnv(make_vec_env(PEND, 2, seed=0), SpyModel(bias=1.0), mixer)
    norm = mixer.scale
    venv.reset()
    for _ in range(30):
        _, rew, _, infos = venv.step(np.zeros((2, 1), np.float32))
    assert norm.count == 60
    raw = rew * norm.scale
    assert np.all(np.abs(raw) <= 1.0 + 1e-5)  # cos(theta) + 2*0 after removing the bias
    venv.training = False
    venv.step(np.zeros((2, 1), np.float32))
    assert norm.count == 60


def test_agents_learn_from_the_learned_reward_not_the_env_reward():
    # What each SB3 algorithm stores as its reward must be the wrapper's learned reward (here r = obs0 + 2 a0,
    # nothing like the env's), for on-policy rollouts and off-policy replay buffers alike.
    torch.set_num_threads(1)
    venv = LearnedRewardVecEnv(make_vec_env(CART, 2, seed=0), SpyModel(), absorbing_offset=False)
    ppo = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    ppo.learn(64)
    buf = ppo.rollout_buffer
    obs = buf.observations.reshape(-1, 4)
    acts = buf.actions.reshape(-1, 1)
    # After training SB3 has flattened observations env-major; rewards keep their (steps, envs) layout.
    rewards = buf.rewards.swapaxes(0, 1).reshape(-1)
    np.testing.assert_allclose(rewards, obs[:, 0] + 2 * acts[:, 0], rtol=1e-5, atol=1e-6)
    assert len(ppo.ep_info_buffer) > 0  # Monitor's true returns still reach SB3's logger

    for algo, task in ((DQN, CART), (SAC, PEND)):
        env = LearnedRewardVecEnv(make_vec_env(task, 1, seed=0), SpyModel(), absorbing_offset=False)
        kwargs = {"replay_buffer_class": replay_buffer_class(env.observation_space)}
        model = algo("MlpPolicy", env, learning_starts=50, buffer_size=500, seed=0, device="cpu", **kwargs)
        model.learn(120)
        rb = model.replay_buffer
        n = rb.pos
        o = rb.observations[:n, 0]
        a = rb.actions[:n, 0].astype(np.float32)
        if algo is SAC:
            a = model.policy.unscale_action(a)  # SAC stores actions squashed into [-1, 1]
        np.testing.assert_allclose(rb.rewards[:n, 0], o[:, 0] + 2 * a[:, 0], rtol=1e-4, atol=1e-4)
        # The env's own reward is kept beside it (for relabelling mixed rewards).
        expected_env = 1.0 if algo is DQN else None
        if expected_env is not None:
            assert np.all(rb.env_rewards[:n, 0] == expected_env)
        assert not np.allclose(rb.rewards[:n, 0], rb.env_rewards[:n, 0])
