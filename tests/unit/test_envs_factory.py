import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.vec_env import DummyVecEnv

from judgerl.envs.factory import act_dim, make_env, make_vec_env, obs_dim
from judgerl.tasks import get_task

CART = get_task("cartpole/balance-v0")
PEND = get_task("pendulum/swingup-v0")


def _has_wrapper(env, cls) -> bool:
    while hasattr(env, "env"):
        if isinstance(env, cls):
            return True
        env = env.env
    return False


def test_make_env_time_limit_and_render():
    env = make_env(PEND, seed=0)
    assert _has_wrapper(env, TimeLimit) and env.spec.max_episode_steps == 200
    assert env.render_mode is None
    env.reset()
    steps = 0
    while True:
        steps += 1
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            break
    assert steps == 200 and trunc and not term
    renv = make_env(CART, render=True)
    renv.reset(seed=0)
    frame = renv.render()
    assert renv.render_mode == "rgb_array" and frame.ndim == 3 and frame.dtype == np.uint8


def test_make_env_seed_is_reproducible():
    a, b = make_env(CART, seed=3), make_env(CART, seed=3)
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    assert a.action_space.sample() == b.action_space.sample()


def test_make_vec_env_monitor_reports_true_return():
    venv = make_vec_env(CART, n_envs=3, seed=0)
    assert isinstance(venv, DummyVecEnv) and venv.num_envs == 3
    first = venv.reset()
    again = make_vec_env(CART, n_envs=3, seed=0).reset()
    np.testing.assert_array_equal(first, again)
    returns = np.zeros(3)
    seen = 0
    for _ in range(200):
        _, rew, dones, infos = venv.step(np.array([venv.action_space.sample() for _ in range(3)]))
        returns += rew
        for i in np.flatnonzero(dones):
            assert infos[i]["episode"]["r"] == pytest.approx(returns[i])
            assert infos[i]["episode"]["l"] == int(returns[i])  # CartPole: +1 per step
            returns[i] = 0
            seen += 1
    assert seen >= 3


def test_dims():
    assert obs_dim(spaces.Box(-1, 1, (3, 4))) == 12
    assert act_dim(spaces.Discrete(5)) == 1
    assert act_dim(spaces.Box(-1, 1, (2,))) == 2
    assert obs_dim(spaces.MultiBinary(3)) == 3
    assert obs_dim(spaces.Dict({"a": spaces.Box(-1, 1, (2, 2)), "b": spaces.Discrete(4)})) == 5
    with pytest.raises(TypeError, match="supports Box"):
        obs_dim(spaces.Tuple((spaces.Discrete(2),)))
    with pytest.raises(TypeError, match="Box and Discrete"):
        act_dim(spaces.MultiBinary(3))
    with pytest.raises(ValueError):
        make_vec_env(CART, n_envs=0, seed=0)
